import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { defineSchema, type L3Tier, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema, serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type AofRedis, startAofRedis } from './deployment-redis.js';
import { evidence, type LogLine, recordingLogger } from './probe-evidence.js';

/** How long another instance may still serve what a write replaced (bus delivery). */
export const BOUND_MS = 1_000;
/** The three instances' clock offsets: A 10 s ahead, B right, C 7 s behind. */
const OFFSETS = [10_000, 0, -7_000] as const;
export type WrapL3 = (base: L3Tier) => L3Tier;

const taggedTable = (pgName: string) =>
  pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    league: text('league').notNull().default('7'),
  });

/**
 * The hooks and helpers of a probe on one write-behind app with tags (`league:7` on every row):
 * a Redis of the file's own (AOF, appendfsync always: a SIGKILL loses nothing), a scratch Postgres
 * schema, and per test three instances on clocks 10 s ahead, right and 7 s behind (a new keyPrefix
 * each: a new app; the previous one's write claims lapse after the test). Every instance has its
 * own pool and Redis connections (L2, pub/sub bus, Redis Stream queue); nothing flushes on its
 * own (`flushDirty` only). `writeMode` 'write-through' makes it the same app writing through.
 */
export function taggedWriteBehindSuite(
  label: string,
  writeMode: 'write-behind' | 'write-through' = 'write-behind',
) {
  const { databaseUrl } = serviceUrls();
  const name = uniqueName(label);
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  admin.on('error', () => {});
  const table = taggedTable(name);
  const schema = defineSchema({
    table,
    writeMode,
    tags: (row: { league: string }) => [`league:${row.league}`],
    l1: { ttl: '10m' },
  });
  let redis: AofRedis;
  const opened: Strata[] = [];
  const clients: Redis[] = [];
  const pools: pg.Pool[] = [];
  let run = 0;
  /** Each instance's log lines, printed only when `converge` fails (see probe-evidence.ts). */
  const logs = new Map<Strata, LogLine[]>();
  let current = { keyPrefix: '', since: 0 };

  beforeAll(async () => {
    redis = await startAofRedis();
    await admin.query(`create schema "${name}"`);
    await new Strata({
      l3: createDrizzleL3(drizzle({ client: admin }), { migrationsSchema: name }),
      schemas: [defineSchema({ table })], // migrate needs no queue: the table alone
    }).migrate();
  });
  afterEach(async () => {
    await Promise.allSettled(opened.splice(0).map((s) => s.close()));
    for (const c of clients.splice(0)) c.disconnect();
    await Promise.allSettled(pools.splice(0).map((p) => p.end()));
    logs.clear();
    // (A write-through app may not have made the claims table yet.)
    if ((await admin.query(`select to_regclass('"${name}"._strata_writers') as t`)).rows[0]?.t)
      await admin.query(`update "${name}"._strata_writers set expires_at = now() - interval '1 second'`);
  });
  afterAll(async () => {
    await dropScratchSchema(admin, name);
    await admin.end();
    await redis?.stop();
  });

  const client = () => {
    const c = new Redis(redis.url, { maxRetriesPerRequest: 0, protocol: 2 } as never);
    c.on('error', () => {});
    clients.push(c);
    return c;
  };

  /** One instance of the app `keyPrefix`; `wrap` puts a fault on its L3. */
  const instance = (keyPrefix: string, offset: number, options: { wrap?: WrapL3; bus?: boolean } = {}) => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
    pool.on('error', () => {});
    pool.on('connect', (c) => c.on('error', () => {}));
    pools.push(pool);
    const l3 = createDrizzleL3(drizzle({ client: pool }), { migrationsSchema: name });
    const { logger, lines } = recordingLogger();
    const strata = new Strata({
      logger,
      l2: createIoredisL2(client()),
      l3: options.wrap ? options.wrap(l3) : l3,
      keyPrefix,
      ...(offset !== 0 && { clock: { now: () => Date.now() + offset } }),
      ...(options.bus !== false && { coherence: { bus: createRedisPubSubBus({ redis: client() }) } }),
      writeBehind: { queue: createRedisStreamQueue({ redis: client(), keyPrefix }), threshold: 1_000_000 },
      timeouts: { l2: 2_000, l3: '10s', queue: '5s' },
      schemas: [schema],
    });
    opened.push(strata);
    logs.set(strata, lines);
    return strata;
  };

  const n = async (x: Strata, id: string) => (await x.find(schema, id))?.n ?? null;

  return {
    schema,
    n,
    /**
     * A (clock 10 s ahead), B (right) and C (7 s behind) of a new app, or on `offsets` (ms) of their
     * own; `wrap[i]` on the i-th one's L3.
     */
    async three(wrap: readonly (WrapL3 | undefined)[] = [], offsets: readonly number[] = OFFSETS) {
      run += 1;
      const keyPrefix = `${name}_${run}`;
      current = { keyPrefix, since: Date.now() };
      const all = offsets.map((o, i) => instance(keyPrefix, o, { ...(wrap[i] && { wrap: wrap[i] }) }));
      for (const x of all) await x.find(schema, 'warm-up'); // subscribed, generation and tags known
      const [a, b, c] = all as [Strata, Strata, Strata];
      return {
        a,
        b,
        c,
        all,
        id: (k: string) => `r${run}-${k}`,
        /** A new instance of the app without a bus: its reads come from L2, then Postgres. */
        fresh: () => instance(keyPrefix, 0, { bus: false }),
      };
    },
    /** What Postgres holds for `ids` (id -> n, null for none). */
    async stored(ids: readonly string[]): Promise<Record<string, number | null>> {
      const { rows } = await admin.query<{ id: string; n: number }>(
        `select id, n from "${name}".items where id = any($1)`,
        [ids],
      );
      return Object.fromEntries(ids.map((x) => [x, rows.find((r) => r.id === x)?.n ?? null]));
    },
    /**
     * SIGKILL of the redis-server, restarted on its AOF (after `whileDown` resolved, if given);
     * resolves once every bus subscribed again.
     */
    async restartRedis(all: readonly Strata[], whileDown?: () => Promise<void>): Promise<void> {
      const gaps = all.map((x) => x.stats().busGaps);
      await redis.kill();
      await whileDown?.();
      await redis.start();
      const deadline = Date.now() + 10_000;
      while (all.some((x, i) => x.stats().busGaps <= gaps[i]!)) {
        if (Date.now() > deadline) throw new Error('an instance never subscribed again after the restart');
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    /**
     * Polls until every instance reads `want` for each id: the ms it took (with the reads that still
     * disagreed before, and the slowest read), or the disagreement once `ms` passed.
     */
    async converge(who: Record<string, Strata>, want: Record<string, number | null>, ms: number) {
      const started = Date.now();
      let before = '';
      /** The slowest single read: a read that waits (after a reset) shows here, not as a stale value. */
      let slowest = { ms: 0, read: '' };
      for (;;) {
        const seen: string[] = [];
        for (const [label, x] of Object.entries(who))
          for (const [id, v] of Object.entries(want)) {
            const t0 = Date.now();
            const got = await n(x, id);
            if (Date.now() - t0 > slowest.ms)
              slowest = { ms: Date.now() - t0, read: `${label} ${id}=${got}` };
            if (got !== v) seen.push(`${label} ${id}=${got} (want ${v})`);
          }
        if (seen.length === 0) return { ms: Date.now() - started, before, slowest };
        if (Date.now() - started > ms) {
          // The evidence a failure seen once in CI would have needed: quiet unless it fails.
          const ids = [...new Set(seen.map((s) => s.split(' ')[1]!.split('=')[0]!))].slice(0, 3);
          const text = await evidence(who, logs, current.since, client(), `*${current.keyPrefix}*`, ids);
          console.log(`converge failed after ${ms} ms; evidence:\n${text}`);
          return seen.join(', ');
        }
        before = seen.join(', ');
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}
