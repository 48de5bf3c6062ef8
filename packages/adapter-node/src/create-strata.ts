import {
  type CompiledSchema,
  clusterBuckets,
  type Duration,
  type L3Tier,
  Strata,
  type StrataConfig,
  strataDefaults,
} from '@strata/core';
import {
  CHANGES_CHANNEL,
  invalidationChannel as defaultChannel,
  defaultLogger,
  toMs,
  withTimeout,
} from '@strata/core/driver';
import {
  changeCapture,
  changeCaptureWith,
  createDrizzleL3,
  type Database,
  readYourWrites,
} from '@strata/core/drizzle';
import { nodeClock } from './clock.js';
import { checkCaptureShape, type NodeRelayOption, relayPlan } from './connect/capture-options.js';
import { type ChangeListener, listenForChanges } from './connect/change-listener.js';
import type { RedisClusterConfig } from './connect/cluster-tiers.js';
import { connectL3 } from './connect/connect-l3.js';
import type { Driver } from './connect/driver.js';
import { checkQueueDurability, connectRedisTiers, type WriteBehindQueue } from './connect/redis-tiers.js';
import { onShutdownSignals, type SignalOptions } from './connect/signals.js';
import { nodeScheduler } from './scheduler.js';

/** How long `shutdown()` waits for the L3 pool's connections to close. */
const POOL_END_TIMEOUT_MS = 5_000;

/** `StrataConfig`'s write-behind options, with the queue named instead of built. */
export interface NodeWriteBehindOptions extends Omit<NonNullable<StrataConfig['writeBehind']>, 'queue'> {
  /**
   * The write-behind queue. Default: none unless a schema is write-behind, then 'redis-stream'
   * with `redisUrl` (durable when that Redis has AOF on: see `allowVolatileQueue`) and 'memory'
   * otherwise (a crash loses what it holds). The stream is `{keyPrefix}:writes`, the consumer group
   * `{keyPrefix}:flushers`: apps with different keyPrefixes never flush each other's writes.
   */
  queue?: WriteBehindQueue;
}

/**
 * What `createStrata` wires (the tiers, the bus, the scheduler) is built from URLs; every other
 * `StrataConfig` option is passed through to `new Strata`.
 */
export interface CreateStrataOptions
  extends Omit<StrataConfig, 'l2' | 'l3' | 'coherence' | 'writeBehind' | 'scheduler' | 'capture'> {
  /** Postgres for L3. */
  databaseUrl: string;
  /** Redis over TCP: L2 (ioredis), the pub/sub bus and the Redis Stream write queue. */
  redisUrl?: string;
  /**
   * A replica of `redisUrl` (`redis-server --replicaof`): L2 reads go to it while it has applied
   * this instance's writes (read-your-writes per instance, by replication offset), to the primary
   * otherwise; writes, the bus and the queue stay on `redisUrl`. See docs/redis-replicas.md.
   * @example await createStrata({ databaseUrl, redisUrl, redisReplicaUrl: 'redis://10.0.0.2:6379', schemas });
   */
  redisReplicaUrl?: string;
  /**
   * Or a Redis Cluster (Redis 7): the same three tiers, on sharded pub/sub, each write waiting for
   * one replica (`replicas`). With one bucket (`buckets`, the default) the `keyPrefix` must carry a
   * hash tag, e.g. `{shop}` (INVALID_CONFIG otherwise): every key of the app then lives in one slot;
   * with `buckets: 16` (and a keyPrefix without a tag) it spreads over 16 slots. See docs/redis-cluster.md.
   * @example await createStrata({ databaseUrl, keyPrefix: '{shop}', redisCluster: { nodes: [{ host: '10.0.0.1', port: 6379 }] }, schemas });
   */
  redisCluster?: RedisClusterConfig;
  /** Or Redis over Upstash REST: L2 and the SSE bus (needs `@upstash/redis`). */
  upstash?: { url: string; token: string };
  schemas: readonly CompiledSchema[];
  /** Default 'pg' for postgres:// URLs. The Neon drivers need `@neondatabase/serverless`. */
  driver?: Driver;
  /** Size of the 'pg' / 'neon-ws' pool. Default 10. */
  maxConnections?: number;
  /**
   * 'pg' driver: Postgres ends a session that sits this long inside a transaction without a
   * statement (`idle_in_transaction_session_timeout`). A transaction Strata gave up on (TX_TIMEOUT)
   * whose COMMIT is stuck in the network is then rolled back instead of committing late over newer
   * writes. Applies to every session of the pool, so also to your own transactions on `db`.
   * Default: the L3 timeout, at most 5 s; 0 turns it off.
   */
  idleInTransactionTimeout?: Duration;
  /** Write-behind: the queue by name, and StrataConfig's flush options. */
  writeBehind?: NodeWriteBehindOptions;
  /**
   * StrataConfig's change capture, and `listen`: with the relay on, a dedicated Postgres session
   * LISTENs on `strata_changes` and runs the relay as soon as a change is captured, instead of at
   * its next interval (reconnecting with backoff; closed by `shutdown()`). Needs a postgres:// URL.
   * `relay` also takes `true` (`changeRelay()`) or `changeRelay`'s options: a Node process has no
   * bundle to keep small. `schemaCheckInterval`: how often a reader without the event trigger
   * compares the captured tables' definitions (`changeCaptureWith`; default 60 s).
   * @example await createStrata({ databaseUrl, redisUrl, schemas, capture: { relay: true, listen: true } });
   */
  capture?: Omit<NonNullable<StrataConfig['capture']>, 'relay'> & {
    relay?: NodeRelayOption;
    listen?: boolean;
    schemaCheckInterval?: Duration;
  };
  /**
   * The Redis Stream queue checks at start-up that its Redis has an append-only file
   * (`appendonly yes`), and `createStrata` rejects with INVALID_CONFIG when it has not (a Redis
   * restart would lose every acknowledged write-behind write). True accepts that risk. Default false.
   * @example await createStrata({ databaseUrl, redisUrl, schemas, allowVolatileQueue: true });
   */
  allowVolatileQueue?: boolean;
  /**
   * The Redis Stream queue also checks at start-up that its Redis never evicts keys (`INFO memory`:
   * no `maxmemory`, or `maxmemory-policy noeviction`), and `createStrata` rejects with
   * INVALID_CONFIG when it does: an evicted stream loses acknowledged writes, and evicted pending
   * rows or tombstones make reads answer older rows until the flush (docs/redis-eviction.md). True
   * accepts that risk. Default false.
   */
  allowEvictingRedis?: boolean;
  /** Pub/sub channel of the bus. Default `{keyPrefix}:invalidate` ('strata:invalidate'). */
  invalidationChannel?: string;
  /** Redis Stream of the write queue. Default `{keyPrefix}:writes` ('strata:writes'); the group stays `{keyPrefix}:flushers`. */
  writeStream?: string;
  /** Postgres schema of `_strata_migrations`, `_strata_versions` and `_strata_writers`. Default: unqualified. */
  migrationsSchema?: string;
  /** Shut down on SIGTERM / SIGINT, then exit 0 (1 if the shutdown failed). Default true. */
  handleSignals?: boolean | SignalOptions;
  /** Runs first in `shutdown()`: stop what produces writes (an HTTP server, a consumer). */
  beforeShutdown?: () => void | Promise<void>;
}

/** A wired Strata and the means to end it. */
export interface NodeStrata {
  readonly strata: Strata;
  /** The Drizzle database L3 runs on, e.g. for `migrateFrom(db, dir)` or your own queries. */
  readonly db: Database;
  readonly migrationsSchema: string | undefined;
  /**
   * `beforeShutdown`; then the write queue refuses new writes (QUEUE_UNAVAILABLE) and the ones in
   * flight settle; then Strata flushes and closes; then the pool ends. Once, however often called.
   */
  shutdown(): Promise<void>;
}

/**
 * Strata for a long-lived Node process, wired from URLs: L3 over a `pg.Pool` (or Neon), L2 + bus +
 * write queue over Redis (or Upstash), a timer-driven flusher and L1 sweep.
 * @example
 * const { strata, shutdown } = await createStrata({
 *   databaseUrl: process.env.DATABASE_URL!,
 *   redisUrl: process.env.REDIS_URL,
 *   schemas: [playerSchema],
 * });
 * await strata.set(playerSchema, { id: 'p1', username: 'andrew' });
 * await shutdown(); // or let SIGTERM do it
 */
export function createStrata(options: CreateStrataOptions): Promise<NodeStrata> {
  return wireStrata(options);
}

/** `createStrata` with a seam for the CLI, which watches L3 to report progress. */
export async function wireStrata(
  options: CreateStrataOptions,
  wrapL3: (l3: L3Tier) => L3Tier = (l3) => l3,
): Promise<NodeStrata> {
  const {
    databaseUrl,
    redisUrl,
    redisReplicaUrl,
    redisCluster,
    upstash,
    driver,
    maxConnections,
    writeBehind: { queue: writeBehindQueue, ...flushOptions } = {},
    invalidationChannel,
    writeStream,
    allowVolatileQueue,
    allowEvictingRedis,
    migrationsSchema,
    idleInTransactionTimeout,
    handleSignals = true,
    beforeShutdown,
    capture: captureOption,
    ...rest
  } = options;
  checkCaptureShape(captureOption, databaseUrl);
  const { listen = false, relay: relayOption, schemaCheckInterval, ...captureRest } = captureOption ?? {};
  const relay = relayPlan(relayOption);
  // Built before connecting: a bad interval is INVALID_CONFIG with nothing opened.
  const logReader =
    schemaCheckInterval === undefined ? changeCapture : changeCaptureWith({ schemaCheckInterval });
  const capture = { ...captureRest, ...(relay && { relay }) };
  const config: StrataConfig = { ...rest, capture };
  const prefix = config.keyPrefix ?? strataDefaults.keyPrefix;
  // One logger for the adapter's warnings and the instance's (the default's "once" is per logger).
  const logger = config.logger === false ? undefined : (config.logger ?? defaultLogger());
  const l3TimeoutMs = toMs(config.timeouts?.l3 ?? strataDefaults.timeouts.l3, 'timeouts.l3');
  const connection = await connectL3({
    databaseUrl,
    driver,
    maxConnections,
    idleInTransactionTimeoutMs: toMs(
      idleInTransactionTimeout ?? Math.min(l3TimeoutMs, 5_000),
      'idleInTransactionTimeout',
    ),
    onError: (error) => logger?.warn('idle L3 connection failed', { error: String(error) }),
  });
  let strata: Strata;
  try {
    const tiers = await connectRedisTiers({
      redisUrl,
      redisReplicaUrl,
      onReplicaError: (error) =>
        logger?.warn('L2 replica read failed: read from the primary', { error: String(error) }),
      redisCluster,
      upstash,
      writeBehind: writeBehindQueue,
      needsQueue: options.schemas.some((s) => (s.writeMode ?? config.defaultWriteMode) === 'write-behind'),
      invalidationChannel: invalidationChannel ?? defaultChannel(prefix),
      keyPrefix: prefix,
      buckets: config.buckets,
      writeStream,
      allowVolatileQueue,
      allowEvictingRedis,
    });
    const l3 = wrapL3(createDrizzleL3(connection.db, { migrationsSchema, capture: logReader }));
    try {
      await checkQueueDurability(
        tiers.queue,
        toMs(config.timeouts?.queue ?? strataDefaults.timeouts.queue, 'timeouts.queue'),
        (m, e) => logger?.warn(m, { error: String(e) }),
      );
      const { l2, bus, queue } = tiers;
      strata = new Strata({
        // Read-your-writes on the schemas' read replicas (a Worker passes it only when it has one).
        replicas: readYourWrites,
        // Buckets (`buckets` > 1, a Redis Cluster) need their refusals and searches: Node has room for them.
        bucketing: clusterBuckets,
        ...config,
        // A clock read once per millisecond: the L1 hit path reads it on every get.
        clock: config.clock ?? nodeClock(),
        logger: logger ?? false,
        l2,
        l3,
        coherence: { bus },
        writeBehind: { ...flushOptions, queue },
        scheduler: nodeScheduler(),
      });
    } catch (error) {
      await Promise.allSettled([tiers.l2?.close(), tiers.bus?.close(), tiers.queue?.close()]);
      throw error;
    }
  } catch (error) {
    await connection.end();
    throw error;
  }
  // The channel carries every app's changes in this database: only this app's tables wake its relay.
  const identities = new Set(options.schemas.map((schema) => schema.identity));
  const listener: ChangeListener | undefined = listen
    ? listenForChanges({
        databaseUrl,
        wake: () => strata.relayChanges(),
        relevant: (payload) => !payload || identities.has(payload),
        ...(logger ? { logger } : {}),
        applicationName: `strata changes ${prefix}`.slice(0, 63),
        channel: CHANGES_CHANNEL,
      })
    : undefined;
  let closing: Promise<void> | undefined;
  let removeListeners = (): void => {};
  const shutdown = (): Promise<void> => {
    closing ??= (async () => {
      try {
        await beforeShutdown?.();
      } finally {
        try {
          await listener?.close();
          // Refuses new writes, waits for running ones, then flushes: nothing acknowledged is left.
          await strata.close();
        } finally {
          // Bounded: a client still waiting for a reply the network holds would keep pool.end()
          // pending for as long as the network does; the process may exit meanwhile anyway.
          await withTimeout(connection.end(), POOL_END_TIMEOUT_MS, 'L3 pool end').catch((error: unknown) =>
            logger?.warn('L3 pool did not end in time', { error: String(error) }),
          );
          removeListeners();
        }
      }
    })();
    return closing;
  };
  if (handleSignals !== false) {
    const given = config.logger;
    // The app's logger, when it gave one, hears that a signal shut it down and why a shutdown
    // failed; else stderr does.
    const told = given && {
      report: (message: string, error: unknown) => given.error(message, { error: String(error) }),
      notice: (message: string) => given.warn(message),
    };
    removeListeners = onShutdownSignals(shutdown, {
      ...(told || {}),
      ...(handleSignals === true ? {} : handleSignals),
    });
  }
  return { strata, db: connection.db, migrationsSchema, shutdown };
}
