import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { clusterBuckets, type InvalidationBus, type L2Tier, Strata } from '@strata/core';
import { type ManualClock, REPLACED_WAIT_MS } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { lapseWriterClaims, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import {
  codeOf,
  type FaultScratch,
  faultScratch,
  postgresProxy,
  quietPool,
  settleBy,
  type Tally,
} from './fault-harness.js';
import { type RedisProcess, startRedisProcess } from './redis-process.js';
import type { TcpProxy } from './tcp-proxy.js';

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
      /** Wraps the L2 tier (faults at the seam: the tier under it is the real one). */
      wrapL2?: (tier: L2Tier) => L2Tier;
    },
  ): Strata;
  /**
   * Two write-behind instances of one app (keyPrefix `<store>-<id>`) on `clock`, each with a bus of
   * its own on one channel of their own: on the shared Redis (which keeps running) unless `busUrls`.
   * `apart`: each bus on a channel of its own instead, so neither instance hears the other
   * (`channel` is then `first`'s).
   */
  writeBehindPair(
    id: string,
    clock: ManualClock,
    options?: { buckets?: number; busUrls?: readonly [string, string]; apart?: boolean },
  ): { channel: string; buses: InvalidationBus[]; first: Strata; second: Strata };
  /**
   * The writer of `id`'s queued write `n` gone (`writerBus` closed, it reads nothing): Redis restarts
   * empty and `reader`'s read of `id` waits REPLACED_WAIT_MS once (for a message that never comes),
   * then Postgres answers (nothing yet); a read after it (of `again`) waits no more. The queue kept
   * the write: once `reader` flushes it, Postgres and `reader` have `n`.
   */
  writerGoneWaitsOnce(o: {
    clock: ManualClock;
    writerBus: InvalidationBus;
    reader: Strata;
    id: string;
    n: number;
    again?: string;
  }): Promise<void>;
  /**
   * A plain subscriber to `channel` on the shared Redis (or through `via`, a proxy in front of it):
   * a witness of what goes over the bus, heard by no instance. `onMessage` gets each message's raw
   * text. Resolves once subscribed; disconnected by `close()` or after the test.
   */
  listen(channel: string, onMessage: (raw: string) => void, options?: { via?: TcpProxy }): Promise<Listener>;
  /**
   * How many of `x`'s waits after a Redis reset ran their bound out (metric `resetWaitRanOut`) rather
   * than ended by a writer's message: what tells the two apart without a wall-clock bound, which
   * CI's load (30-58 on 2 cores) stretches past REPLACED_WAIT_MS however the wait ended.
   */
  ranOut(x: Strata): number;
  /** Every value in our Redis that mentions `text` (whatever the L2 key and value format). */
  l2ValuesWith(text: string): Promise<string[]>;
  /** What each instance reads for `id` (write-through schema): its n, or the error code. */
  readAll(t: Tally, who: Record<string, Strata>, id: string): Promise<Record<string, unknown>>;
}

/** A subscriber `RestartSuite.listen` made. */
export interface Listener {
  close(): void;
}

/**
 * The hooks and helpers of a Redis-restart test file: a redis-server of its own (L2), a scratch
 * Postgres schema, a TCP proxy in front of Postgres. After each test the proxy passes again and
 * the test's instances, pools and clients close; at the end the server is killed by its PID.
 */
export function restartSuite(label: string): RestartSuite {
  const clients: Redis[] = [];
  const listeners: Redis[] = [];
  const instances: Strata[] = [];
  const pools: pg.Pool[] = [];
  const suite = {} as { redis: RedisProcess; store: FaultScratch; proxy: TcpProxy };
  const ranOut = new WeakMap<Strata, { n: number }>();

  beforeAll(async () => {
    suite.redis = await startRedisProcess();
    suite.store = await faultScratch(label);
    suite.proxy = await postgresProxy(suite.store);
  });
  afterEach(async () => {
    suite.proxy.resume();
    await Promise.allSettled(instances.splice(0).map((s) => s.close()));
    await Promise.allSettled(pools.splice(0).map((p) => p.end()));
    for (const c of clients.splice(0)) c.disconnect();
    for (const l of listeners.splice(0)) l.disconnect();
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

  const restart = async (options: { dropData?: boolean } = {}) => {
    const back = clients.map((c) =>
      c.status === 'ready'
        ? new Promise<void>((resolve) => c.once('close', () => c.once('ready', () => resolve())))
        : Promise.resolve(),
    );
    await suite.redis.restart(options);
    expect('hung' in (await settleBy(Promise.all(back), DEADLINE)), 'clients reconnected').toBe(false);
  };

  const instance: RestartSuite['instance'] = (keyPrefix, clock, options = {}) => {
    const { store } = suite;
    let db = store.db;
    if (options.proxied) {
      const pool = quietPool(suite.proxy.url(store.databaseUrl), 2);
      pools.push(pool);
      db = drizzle(pool);
    }
    const waits = { n: 0 };
    const strata = new Strata({
      l2: (options.wrapL2 ?? ((tier: L2Tier) => tier))(
        createIoredisL2(client(options.l2Via?.url(suite.redis.url))),
      ),
      l3: createDrizzleL3(db, { migrationsSchema: store.name }),
      clock,
      keyPrefix,
      ttl: { l1: L1_TTL },
      metrics: {
        count: (name) => {
          if (name === 'resetWaitRanOut') waits.n += 1;
        },
        observe() {},
      },
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
    ranOut.set(strata, waits);
    return strata;
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
    restart,
    instance,
    ranOut: (x) => ranOut.get(x)!.n,
    writeBehindPair(id, clock, options = {}) {
      const channel = uniqueName(`${label}_bus`);
      const urls = options.busUrls ?? [suite.store.redisUrl, suite.store.redisUrl];
      const buses = urls.map((url, i) =>
        createRedisPubSubBus({ url, channel: options.apart && i > 0 ? uniqueName(`${label}_bus`) : channel }),
      );
      const [first, second] = buses.map((bus) =>
        instance(`${suite.store.name}-${id}`, clock, { writeBehind: true, bus, buckets: options.buckets }),
      ) as [Strata, Strata];
      return { channel, buses, first, second };
    },
    async writerGoneWaitsOnce({ clock, writerBus, reader, id, n, again = id }) {
      const schema = suite.store.schema('write-behind');
      await writerBus.close();
      await restart({ dropData: true });
      clock.advance(REFRESH_PASSED); // `reader`'s next read makes a generation read: it finds the reset
      const started = performance.now();
      const read = await settleBy(reader.find(schema, id), 7 * REPLACED_WAIT_MS);
      const waited = performance.now() - started;
      expect(read, 'what Postgres has, once the bound passed').toEqual({ ok: true, value: null });
      expect(waited).toBeGreaterThanOrEqual(REPLACED_WAIT_MS - 50);
      expect(ranOut.get(reader)!.n, 'the wait ran its bound out').toBe(1);
      // Once: the settle is over, and the next miss reads Postgres without waiting again.
      expect(await reader.find(schema, again)).toBeNull();
      expect(ranOut.get(reader)!.n, 'the next read waited no bound out').toBe(1);
      await reader.flushDirty();
      expect((await suite.store.stored()).get(id)).toBe(n);
      expect((await reader.get(schema, id)).n).toBe(n);
    },
    async listen(channel, onMessage, options = {}) {
      // ioredis's own resubscribe on reconnect leaves its promise unhandled: closed while it is
      // out, that is an unhandled "Connection is closed." (a CI run failed on it). We subscribe
      // again ourselves, and a subscribe the close ended is expected.
      const witness = new Redis(options.via ? options.via.url(suite.store.redisUrl) : suite.store.redisUrl, {
        autoResubscribe: false,
      });
      witness.on('error', () => {}); // through a proxy it is cut with the rest, and reconnects
      witness.on('message', (_channel: string, raw: string) => onMessage(raw));
      listeners.push(witness);
      await witness.subscribe(channel);
      witness.on('ready', () => {
        witness.subscribe(channel).catch((err: unknown) => {
          if (witness.status !== 'end') throw err;
        });
      });
      return { close: () => witness.disconnect() };
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
