import type { Redis } from 'ioredis';
import { quitConnection } from './quit-connection.js';

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
  close(): Promise<void>;
}

/** Classic pub/sub (SUBSCRIBE) on one connection, which ioredis reconnects itself. */
export class ConnectionSubscription implements ChannelSubscription {
  readonly #redis: Redis;
  readonly #channel: string;

  /** `redis`: a dedicated connection with `autoResubscribe: false` (the bus subscribes again). */
  constructor(redis: Redis, channel: string) {
    this.#redis = redis;
    this.#channel = channel;
  }

  async subscribe(): Promise<void> {
    await this.#redis.subscribe(this.#channel);
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
