import { createIoredisL2, createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { clusterBuckets, type InvalidationBus, Strata } from '@strata/core';
import type { ManualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { lapseWriterClaims } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { codeOf, type FaultScratch, faultScratch, settleBy, type Tally } from './fault-harness.js';
import { type RedisProcess, startRedisProcess } from './redis-process.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export const DEADLINE = 5_000;
/** Past GENERATION_REFRESH_MS (5 s), on the instances' manual clock. */
export const REFRESH_PASSED = 6_000;
/** Below the generation refresh: with no bus, L1's own bound passes first, so what is checked is what L2 serves. */
const L1_TTL = '2s';

export interface RestartSuite {
  readonly redis: RedisProcess;
  readonly store: FaultScratch;
  /** In front of Postgres, for instances made with `proxied`. */
  readonly proxy: TcpProxy;
  /** A client of our redis-server that reconnects at once (closed after the test). */
  client(): Redis;
  /** Restarts the server (from its snapshot, or without data) and waits until every client is back. */
  restart(options?: { dropData?: boolean }): Promise<void>;
  /**
   * A Strata on our Redis (L2, under `keyPrefix`), Postgres (direct, or through the proxy), and for
   * write-behind the Redis Stream queue on the shared Redis (which keeps running: queued writes
   * outlive L2). Write-through unless `writeBehind`; no bus unless `bus`; one bucket unless `buckets`.
   */
  instance(
    keyPrefix: string,
    clock: ManualClock,
    options?: {
      proxied?: boolean;
      writeBehind?: boolean;
      bus?: InvalidationBus;
      buckets?: number;
      /** L2 through this proxy (in front of our redis-server) instead of directly. */
      l2Via?: TcpProxy;
    },
  ): Strata;
  /** Every value in our Redis that mentions `text` (whatever the L2 key and value format). */
  l2ValuesWith(text: string): Promise<string[]>;
  /** What each instance reads for `id` (write-through schema): its n, or the error code. */
  readAll(t: Tally, who: Record<string, Strata>, id: string): Promise<Record<string, unknown>>;
}

/**
 * The hooks and helpers of a Redis-restart test file: a redis-server of its own (L2), a scratch
 * Postgres schema, a TCP proxy in front of Postgres. After each test the proxy passes again and
 * the test's instances, pools and clients close; at the end the server is killed by its PID.
 */
export function restartSuite(label: string): RestartSuite {
  const clients: Redis[] = [];
  const instances: Strata[] = [];
  const pools: pg.Pool[] = [];
  const suite = {} as { redis: RedisProcess; store: FaultScratch; proxy: TcpProxy };

  beforeAll(async () => {
    suite.redis = await startRedisProcess();
    suite.store = await faultScratch(label);
    suite.proxy = await startTcpProxy(Number(new URL(suite.store.databaseUrl).port || 5432));
  });
  afterEach(async () => {
    suite.proxy.resume();
    await Promise.allSettled(instances.splice(0).map((s) => s.close()));
    await Promise.allSettled(pools.splice(0).map((p) => p.end()));
    for (const c of clients.splice(0)) c.disconnect();
    // Each test is its own app (keyPrefix) on the one items table: the closed apps' claims lapse,
    // as stopped apps' would (docs/semantics.md, "One writer per table").
    await lapseWriterClaims(suite.store.pool, suite.store.name);
  });
  afterAll(async () => {
    await suite.proxy?.close();
    await suite.store?.cleanup();
    await suite.redis?.close();
  });

  const client = (url = suite.redis.url) => {
    const c = new Redis(url, { maxRetriesPerRequest: 0, protocol: 2, retryStrategy: () => 50 });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };

  return {
    get redis() {
      return suite.redis;
    },
    get store() {
      return suite.store;
    },
    get proxy() {
      return suite.proxy;
    },
    client,
    async restart(options = {}) {
      const back = clients.map((c) =>
        c.status === 'ready'
          ? new Promise<void>((resolve) => c.once('close', () => c.once('ready', () => resolve())))
          : Promise.resolve(),
      );
      await suite.redis.restart(options);
      expect('hung' in (await settleBy(Promise.all(back), DEADLINE)), 'clients reconnected').toBe(false);
    },
    instance(keyPrefix, clock, options = {}) {
      const { store } = suite;
      let db = store.db;
      if (options.proxied) {
        const pool = new pg.Pool({ connectionString: suite.proxy.url(store.databaseUrl), max: 2 });
        pool.on('error', () => {});
        pool.on('connect', (c) => c.on('error', () => {}));
        pools.push(pool);
        db = drizzle(pool);
      }
      const strata = new Strata({
        l2: createIoredisL2(client(options.l2Via?.url(suite.redis.url))),
        l3: createDrizzleL3(db, { migrationsSchema: store.name }),
        clock,
        keyPrefix,
        ttl: { l1: L1_TTL },
        ...(options.bus && { coherence: { bus: options.bus } }),
        ...(options.buckets && { buckets: options.buckets, bucketing: clusterBuckets }),
        ...(options.writeBehind && {
          writeBehind: {
            queue: createRedisStreamQueue({ url: store.redisUrl, keyPrefix, allowVolatile: true }),
          },
        }),
        schemas: [store.schema(options.writeBehind ? 'write-behind' : 'write-through')],
      });
      instances.push(strata);
      return strata;
    },
    async l2ValuesWith(text) {
      const c = client();
      const keys = await c.keys('*');
      const values = keys.length > 0 ? await c.mget(...keys) : [];
      return values.filter((v): v is string => typeof v === 'string' && v.includes(text));
    },
    async readAll(t, who, id) {
      const out: Record<string, unknown> = {};
      for (const [name, s] of Object.entries(who)) {
        const r = await t.run(s.get(suite.store.schema(), id), DEADLINE);
        out[name] = 'ok' in r && r.ok ? r.value.n : codeOf(r);
      }
      return out;
    },
  };
}
