import type { InvalidationBus } from '@strata/core';
import { BusDelivery, type BusHandlers, type BusStats, type Invalidation } from '@strata/core/driver';
import { Redis, type RedisOptions } from 'ioredis';
import { quitConnection } from './quit-connection.js';

export type RedisPubSubBusOptions = (
  | {
      /** Opens a publisher and a subscriber connection and closes both in `close()`. */
      url: string;
      redis?: never;
    }
  | {
      /** Publishes through this client (borrowed: never closed); the subscriber is its `duplicate()`. */
      redis: Redis;
      url?: never;
    }
) & {
  /** Default 'strata:invalidate' as in the Go library Strata. */
  channel?: string;
  /** For the connections the bus opens (e.g. `connectionName`). `protocol: 2` is always forced. */
  redisOptions?: RedisOptions;
};

/**
 * The invalidation bus over Redis pub/sub, for long-lived Node processes: `publish` is one
 * `PUBLISH`; a dedicated subscriber connection (owned by the bus) receives. When that connection
 * drops and comes back, the bus subscribes again and then calls `gap()`: what was published while it
 * was away is lost. If the first subscribe fails, `subscribe()` rejects and the bus keeps trying on
 * each reconnect, calling `gap()` when it gets through.
 *
 * @example
 * const bus = createRedisPubSubBus({ url: 'redis://127.0.0.1:6379' });
 * const strata = new Strata({ l2, l3, bus });
 * // on shutdown: strata.close() closes the bus
 */
export function createRedisPubSubBus(options: RedisPubSubBusOptions): InvalidationBus {
  const extra = options.redisOptions ?? {};
  // Subscribing again is this bus's job (so it knows when to call gap()); commands fail at the
  // first failed reconnect instead of queueing for twenty, so a down Redis fails subscribe() fast.
  const subscriberOptions: RedisOptions = {
    maxRetriesPerRequest: 0,
    ...extra,
    autoResubscribe: false,
    protocol: 2,
  };
  const publisher =
    options.redis ?? new Redis(options.url, { maxRetriesPerRequest: 0, ...extra, protocol: 2 });
  const subscriber =
    options.redis !== undefined
      ? options.redis.duplicate(subscriberOptions)
      : new Redis(options.url, subscriberOptions);
  // Failures reach callers as rejected commands; without a listener ioredis would also print
  // every failed reconnect as an "Unhandled error event".
  if (options.redis === undefined) publisher.on('error', () => {});
  subscriber.on('error', () => {});
  return new RedisPubSubBus(publisher, options.redis === undefined, subscriber, options.channel);
}

class RedisPubSubBus implements InvalidationBus {
  readonly name = 'redis-pubsub';
  readonly #delivery = new BusDelivery(this.name);
  readonly #publisher: Redis;
  readonly #ownsPublisher: boolean;
  readonly #subscriber: Redis;
  readonly #channel: string;
  /** Set once the first subscribe has been answered (either way): later `ready`s are reconnects. */
  #firstAttemptDone = false;

  constructor(publisher: Redis, ownsPublisher: boolean, subscriber: Redis, channel = 'strata:invalidate') {
    this.#publisher = publisher;
    this.#ownsPublisher = ownsPublisher;
    this.#subscriber = subscriber;
    this.#channel = channel;
    subscriber.on('message', (from: string, message: string) => {
      if (from === this.#channel) this.#delivery.payload(message);
    });
    subscriber.on('ready', () => this.#resubscribe());
  }

  publish(invalidation: Invalidation): Promise<void> {
    return this.#delivery.publish(invalidation, (payload) => this.#publisher.publish(this.#channel, payload));
  }

  subscribe(handlers: BusHandlers): Promise<void> {
    return this.#delivery.subscribe(handlers, async () => {
      try {
        await this.#subscriber.subscribe(this.#channel);
      } finally {
        this.#firstAttemptDone = true;
      }
    });
  }

  stats(): BusStats {
    return this.#delivery.stats();
  }

  close(): Promise<void> {
    return this.#delivery.closeOnce(async () => {
      await Promise.all([
        quitConnection(this.#subscriber),
        this.#ownsPublisher ? quitConnection(this.#publisher) : undefined,
      ]);
    });
  }

  /**
   * A new connection after a drop. gap() only once SUBSCRIBE is answered: called earlier, a reader
   * could refill L1 and then miss an invalidation published before the subscription was in place.
   */
  #resubscribe(): void {
    if (!this.#firstAttemptDone || !this.#delivery.active) return;
    this.#subscriber.subscribe(this.#channel).then(
      () => this.#delivery.gap(),
      // Dropped again before the answer: the next `ready` tries again.
      () => {},
    );
  }
}
