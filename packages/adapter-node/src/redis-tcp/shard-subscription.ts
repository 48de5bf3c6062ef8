import type { BusDelivery } from '@strata/core/driver';
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ChannelSubscription } from './channel-subscription.js';
import { masterFor } from './cluster-slots.js';
import { quitConnection } from './quit-connection.js';

/** Backoff between attempts to reach the channel's master again (a failover takes ~1–3 s). */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2_000;

/**
 * Sharded pub/sub (SSUBSCRIBE, Redis 7) on a Redis Cluster: the channel hashes to one slot, so
 * SPUBLISH goes to the master that serves it and only that shard delivers it, in the order that
 * master received it (classic PUBLISH on a Cluster goes to any node and reaches the others over the
 * cluster bus, out of order). One plain connection to that master, opened with the bus's forced
 * options; ioredis' own `shardedSubscribers` is not used because it resubscribes by itself, and the
 * bus must know when a subscription was lost to call `gap()`.
 *
 * When the connection ends (the master died) or the slot moves (Redis sends an unsolicited
 * SUNSUBSCRIBE, or SSUBSCRIBE answers MOVED), it asks the Cluster client for a fresh slot map and
 * connects to whichever master serves the slot now, retrying with backoff until `close()`; each new
 * connection's `ready` reaches `onReady`, so the bus subscribes again and calls `gap()`.
 */
export class ShardSubscription implements ChannelSubscription {
  readonly #cluster: Cluster;
  readonly #channel: string;
  readonly #options: RedisOptions;
  #connection: Redis | undefined;
  #opening: Promise<Redis> | undefined;
  #retryMs = RETRY_MIN_MS;
  /** Cancels the retry waiting (see `#retryLater`). */
  #cancelRetry: (() => void) | undefined;
  /** The bus's timer (the host's when it lends one: a test drives the backoff); else `setTimeout`. */
  #timer: () => BusDelivery['timer'] = () => (ms, task) => {
    const timer = setTimeout(task, ms);
    return () => clearTimeout(timer);
  };
  #closed = false;
  #onMessage: (payload: string) => void = () => {};
  #onReady: () => void = () => {};

  /** `options`: for the subscriber connection (host and port are the slot's master's). */
  constructor(cluster: Cluster, channel: string, options: RedisOptions) {
    this.#cluster = cluster;
    this.#channel = channel;
    this.#options = options;
  }

  async subscribe(): Promise<void> {
    const connection = await this.#connect();
    await connection.ssubscribe(this.#channel);
  }

  onMessage(listener: (payload: string) => void): void {
    this.#onMessage = listener;
  }

  onReady(listener: () => void): void {
    this.#onReady = listener;
  }

  useTimer(timer: () => BusDelivery['timer']): void {
    this.#timer = timer;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#cancelRetry?.();
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection !== undefined) await quitConnection(connection);
  }

  /** The connection to the slot's master, opened on first use and after a loss. */
  #connect(): Promise<Redis> {
    if (this.#connection !== undefined) return Promise.resolve(this.#connection);
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #open(): Promise<Redis> {
    const master = await masterFor(this.#cluster, this.#channel);
    const { host, port } = master.options;
    // No reconnect of its own: after a failover the same address may be no master, or gone.
    const connection = new Redis({ ...this.#options, host, port, retryStrategy: () => null });
    connection.on('error', () => {});
    connection.on('smessage', (from: string, message: string) => {
      if (from === this.#channel) this.#onMessage(message);
    });
    connection.on('ready', () => {
      this.#retryMs = RETRY_MIN_MS;
      this.#onReady();
    });
    connection.on('moved', () => this.#lost(connection));
    connection.on('end', () => this.#lost(connection));
    if (this.#closed) connection.disconnect();
    else this.#connection = connection;
    return connection;
  }

  /** The connection can no longer receive the channel: find the slot's master again. */
  #lost(connection: Redis): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    connection.disconnect();
    this.#retryLater();
  }

  /** With backoff: the cluster's slot map may name the dead master until the promotion is known. */
  #retryLater(): void {
    if (this.#closed) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
    this.#cancelRetry = this.#timer()(delay, () => {
      this.#cluster.refreshSlotsCache(() => {
        if (this.#closed) return;
        // No master known for the slot yet (a failed open ends its connection: `#lost` retries).
        this.#connect().catch(() => this.#retryLater());
      });
    });
  }
}
