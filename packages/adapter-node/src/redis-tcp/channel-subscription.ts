import type { BusDelivery } from '@strata/core/driver';
import type { Redis } from 'ioredis';
import { quitConnection } from './quit-connection.js';
import { type ConnectionErrors, told } from './unreachable.js';

/**
 * The bus's receiving side: one channel on a connection of its own, which the bus subscribes again
 * after a drop (and then calls `gap()`: what was published meanwhile is lost).
 */
export interface ChannelSubscription {
  /** Subscribes the channel on the current connection; rejects when it cannot. */
  subscribe(): Promise<void>;
  /** Each message of the channel. */
  onMessage(listener: (payload: string) => void): void;
  /** A connection became ready (the first one too): the bus subscribes again after a drop. */
  onReady(listener: () => void): void;
  /** The timer its own waits run on: the bus's (`BusDelivery.timer`, the host's when it lends one). */
  useTimer?(timer: () => BusDelivery['timer']): void;
  close(): Promise<void>;
}

/** Classic pub/sub (SUBSCRIBE) on one connection, which ioredis reconnects itself. */
export class ConnectionSubscription implements ChannelSubscription {
  readonly #redis: Redis;
  readonly #channel: string;
  readonly #errors: ConnectionErrors | undefined;

  /**
   * `redis`: a dedicated connection with `autoResubscribe: false` (the bus subscribes again);
   * `errors`: its own, to tell a failed subscribe while it is down.
   */
  constructor(redis: Redis, channel: string, errors?: ConnectionErrors) {
    this.#redis = redis;
    this.#channel = channel;
    this.#errors = errors;
  }

  async subscribe(): Promise<void> {
    await told(this.#redis.subscribe(this.#channel), this.#errors);
  }

  onMessage(listener: (payload: string) => void): void {
    this.#redis.on('message', (from: string, message: string) => {
      if (from === this.#channel) listener(message);
    });
  }

  onReady(listener: () => void): void {
    this.#redis.on('ready', listener);
  }

  close(): Promise<void> {
    return quitConnection(this.#redis);
  }
}
