import type { InvalidationBus } from '@strata/core';
import {
  BusDelivery,
  type BusHandlers,
  type BusStats,
  type Invalidation,
  type ScriptedBus,
} from '@strata/core/driver';
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { type ChannelSubscription, ConnectionSubscription } from './channel-subscription.js';
import { isCluster } from './cluster-slots.js';
import { quitConnection } from './quit-connection.js';
import { duplicateWithStrataRetry, withStrataRetry } from './reconnect-delay.js';
import { scriptedBus } from './scripted-bus.js';
import { ShardSubscription } from './shard-subscription.js';
import { ConnectionErrors, told } from './unreachable.js';

const DEFAULT_CHANNEL = 'strata:invalidate';

export type RedisPubSubBusOptions = (
  | {
      /** Opens a publisher and a subscriber connection and closes both in `close()`. */
      url: string;
      redis?: never;
    }
  | {
      /**
       * Publishes through this client (borrowed: never closed); the subscriber is its `duplicate()`,
       * with Strata's short reconnect delay unless the client sets a `retryStrategy` of its own.
       * A Redis Cluster client: sharded pub/sub (SPUBLISH / SSUBSCRIBE, Redis 7), which keeps one
       * channel's order; the subscriber is a connection of its own to the channel's master.
       */
      redis: Redis | Cluster;
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
 * On a Redis Cluster (`redis: cluster`), `publish` is one `SPUBLISH` (to the master serving the
 * channel's slot) and the subscriber SSUBSCRIBEs on that master; after a failover it finds the new
 * master, subscribes again and calls `gap()`.
 *
 * @example
 * const bus = createRedisPubSubBus({ url: 'redis://127.0.0.1:6379' });
 * const strata = new Strata({ l2, l3, bus });
 * // on shutdown: strata.close() closes the bus
 */
export function createRedisPubSubBus(options: RedisPubSubBusOptions): InvalidationBus {
  const extra = options.redisOptions ?? {};
  const borrowed = options.redis;
  if (borrowed !== undefined && isCluster(borrowed))
    return openClusterBus(borrowed, 'borrowed', options.channel, extra);
  // Subscribing again is this bus's job (so it knows when to call gap()); commands fail at the
  // first failed reconnect instead of queueing for twenty, so a down Redis fails subscribe() fast.
  const subscriberOptions: RedisOptions = {
    maxRetriesPerRequest: 0,
    ...extra,
    autoResubscribe: false,
    protocol: 2,
  };
  // The connections opened here get Strata's short reconnect delay (reconnect-delay.ts) unless
  // redisOptions sets its own; a borrowed client's duplicate too, unless that client sets its own.
  const publisher =
    borrowed ?? new Redis(options.url, withStrataRetry({ maxRetriesPerRequest: 0, ...extra, protocol: 2 }));
  const subscriber =
    borrowed !== undefined
      ? borrowed.duplicate(duplicateWithStrataRetry(borrowed, subscriberOptions))
      : new Redis(options.url, withStrataRetry(subscriberOptions));
  // Failures reach callers as rejected commands, told with the connection's own error (a borrowed
  // publisher's errors are its owner's; the subscriber is always the bus's own).
  const published = borrowed === undefined ? new ConnectionErrors(publisher) : undefined;
  const subscribed = new ConnectionErrors(subscriber);
  const bus = new RedisPubSubBus(
    (channel, payload) => told(publisher.publish(channel, payload), published),
    new ConnectionSubscription(subscriber, options.channel ?? DEFAULT_CHANNEL, subscribed),
    borrowed === undefined ? () => quitConnection(publisher) : undefined,
    options.channel,
  );
  // A plain PUBLISH on one Redis: a write script there may publish for the bus (not SPUBLISH, whose
  // channel has a slot of its own).
  bus.scripted = bus.scriptedOn(publisher);
  return bus;
}

/**
 * The bus over a Redis Cluster client (`owned`: createStrata opened it, the bus quits it).
 * @internal
 */
export function openClusterBus(
  cluster: Cluster,
  connection: 'owned' | 'borrowed',
  channel: string = DEFAULT_CHANNEL,
  extra: RedisOptions = {},
): InvalidationBus {
  // The cluster's own node options (e.g. a password), then the caller's, then what the bus needs.
  const subscriberOptions: RedisOptions = {
    ...cluster.options.redisOptions,
    maxRetriesPerRequest: 0,
    ...extra,
    autoResubscribe: false,
    protocol: 2,
  };
  return new RedisPubSubBus(
    (name, payload) => cluster.spublish(name, payload),
    new ShardSubscription(cluster, channel, subscriberOptions),
    connection === 'owned' ? () => quitConnection(cluster) : undefined,
    channel,
  );
}

class RedisPubSubBus implements InvalidationBus {
  readonly name = 'redis-pubsub';
  readonly #delivery = new BusDelivery(this.name);
  readonly #send: (channel: string, payload: string) => Promise<unknown>;
  readonly #subscription: ChannelSubscription;
  /** Quits the publisher's connection when the bus opened it. */
  readonly #quitPublisher: (() => Promise<void>) | undefined;
  readonly #channel: string;
  /** Set once the first subscribe has been answered (either way): later `ready`s are reconnects. */
  #firstAttemptDone = false;
  scripted?: ScriptedBus;

  constructor(
    send: (channel: string, payload: string) => Promise<unknown>,
    subscription: ChannelSubscription,
    quitPublisher: (() => Promise<void>) | undefined,
    channel = DEFAULT_CHANNEL,
  ) {
    this.#send = send;
    this.#subscription = subscription;
    this.#quitPublisher = quitPublisher;
    this.#channel = channel;
    subscription.onMessage((message) => this.#delivery.payload(message));
    subscription.onReady(() => this.#resubscribe());
    subscription.useTimer?.(() => this.#delivery.timer);
  }

  publish(invalidation: Invalidation): Promise<void> {
    return this.#delivery.publish(invalidation, (payload) => this.#send(this.#channel, payload));
  }

  /** `scripted` for a bus that PUBLISHes through `publisher`. */
  scriptedOn(publisher: Redis): ScriptedBus {
    const delivery = this.#delivery;
    return scriptedBus(publisher, this.#channel, (n) => delivery.published(n));
  }

  subscribe(handlers: BusHandlers): Promise<void> {
    return this.#delivery.subscribe(handlers, async () => {
      try {
        await this.#subscription.subscribe();
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
      await Promise.all([this.#subscription.close(), this.#quitPublisher?.()]);
    });
  }

  /**
   * A new connection after a drop. gap() only once SUBSCRIBE is answered: called earlier, a reader
   * could refill L1 and then miss an invalidation published before the subscription was in place.
   */
  #resubscribe(): void {
    if (!this.#firstAttemptDone || !this.#delivery.active) return;
    this.#subscription.subscribe().then(
      () => this.#delivery.gap(),
      // Dropped again before the answer: the next `ready` tries again.
      () => {},
    );
  }
}
