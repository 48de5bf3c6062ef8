import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { type CompiledSchema, defineSchema, Q, Strata, type StrataConfig } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema, lapseWriterClaims, serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text, uuid } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BUSY_TIMEOUT } from '../support/past-load.js';
import { type RedisProcess, startRedisProcess } from '../support/redis-process.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// Probes of Strata's guarantees where two features meet (helper "breakit", second round): tags,
// expire, stale/grace windows, invalidateAll and batches, each against write-behind, skewed
// clocks, a second app or duplicate ids. A probe that found a defect is `it.fails`, with the
// failing assertion and the mechanism in its comment; the others pass and stay because no other
// test covers the combination.

const { redisUrl, databaseUrl } = serviceUrls();
const name = uniqueName('probe_combos');
const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
admin.on('error', () => {});
const raw = new Redis(redisUrl, { protocol: 2, lazyConnect: true } as never);
raw.on('error', () => {});
const db = drizzle({ client: admin });
const opened: { close(): Promise<void> }[] = [];
const pools: pg.Pool[] = [];

/** Every test's instances close (with their buses, queues and L2 connections) before the cleanup. */
function open(config: StrataConfig): Strata {
  const strata = new Strata(config);
  opened.push(strata);
  return strata;
}

/** A scratch Postgres schema of this file holding `items` (and its own `_strata_versions`). */
function itemsIn(suffix: string) {
  const pgName = `${name}_${suffix}`;
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    league: text('league').notNull().default('7'),
  });
  return {
    pgName,
    table,
    l3: () => createDrizzleL3(db, { migrationsSchema: pgName }),
    async create(schema: CompiledSchema) {
      await admin.query(`create schema "${pgName}"`);
      await new Strata({
        l3: createDrizzleL3(db, { migrationsSchema: pgName }),
        schemas: [schema],
      }).migrate();
    },
    /** A write made outside Strata (admin SQL): only an invalidation tells the caches. */
    async update(id: string, n: number) {
      await admin.query(`update "${pgName}".items set n = $2 where id = $1`, [id, n]);
    },
  };
}

const byLeague = (row: { league: string }) => [`league:${row.league}`];

beforeAll(async () => {
  await raw.connect();
});

// Instances first (their close flushes through their pools), then the pools.
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((s) => s.close()));
  await Promise.allSettled(pools.splice(0).map((p) => p.end()));
});

afterAll(async () => {
  const { rows } = await admin.query<{ nspname: string }>(
    'select nspname from pg_namespace where nspname like $1',
    [`${name}%`],
  );
  for (const { nspname } of rows) await dropScratchSchema(admin, nspname);
  await admin.end();
  const keys = await raw.keys(`${name}*`);
  if (keys.length > 0) await raw.del(...keys);
  raw.disconnect();
});

describe('two apps (two keyPrefixes) on one Redis, one database and one bus channel', () => {
  // The same table name `items` in two Postgres schemas, one app each, each app with its own
  // keyPrefix, both on one Redis and on one pub/sub channel (`createRedisPubSubBus({ url })` names
  // 'strata:invalidate' whatever the app: two apps built by hand share it; here a channel of this
  // file's). docs/api.md: "Tags belong to the app (its keyPrefix) ... and never reach another app
  // on the same Redis."
  const a = itemsIn('app_a');
  const b = itemsIn('app_b');
  const schemaA = defineSchema({ table: a.table, tags: byLeague, l1: { ttl: '10m' }, l2: { ttl: '10m' } });
  const schemaB = defineSchema({ table: b.table, tags: byLeague, l1: { ttl: '10m' }, l2: { ttl: '10m' } });
  const channel = `${name}:shared-bus`;
  const app = (which: 'a' | 'b', bus = true) =>
    open({
      l2: createIoredisL2(redisUrl),
      l3: which === 'a' ? a.l3() : b.l3(),
      keyPrefix: `${name}${which}`,
      ...(bus && { coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel }) } }),
      schemas: [which === 'a' ? schemaA : schemaB],
    });

  beforeAll(async () => {
    await a.create(schemaA);
    await b.create(schemaB);
  });

  it("app A's invalidateTags never makes app B serve a row older than B's own invalidateTags", async () => {
    const [appA, appB, appB2] = [app('a'), app('b'), app('b')];
    for (const [x, s] of [
      [appA, schemaA],
      [appB, schemaB],
      [appB2, schemaB],
    ] as const)
      await x.find(s, 'warm-up'); // subscribed, tag clock read
    // App A moves its tag a few times; app B has its own tag of the same name (never moved).
    const heard = appB.stats().invalidationsApplied;
    for (let i = 0; i < 5; i++) await appA.invalidateTags(['league:7']);
    // A message of B's own app, published after A's on the same channel: once B has it, B has
    // had A's messages too (one subscription delivers in publish order).
    await appB2.invalidate(schemaB, 'sentinel');
    await expect.poll(() => appB.stats().invalidationsApplied, { timeout: 2_000 }).toBeGreaterThan(heard);
    expect(appB.stats().invalidationsApplied - heard, "B applied its own app's message only").toBe(1);
    // B caches a row of league 7, changes it outside Strata and moves its own tag: the next read
    // must not answer the row from before the move (on B, nor on a new instance of B).
    await appB.set(schemaB, { id: 'b1', n: 1, league: '7' });
    await b.update('b1', 2);
    await appB.invalidateTags(['league:7']);
    const seen = {
      appB: (await appB.get(schemaB, 'b1')).n,
      freshB: (await app('b', false).get(schemaB, 'b1')).n,
    };
    expect(seen).toEqual({ appB: 2, freshB: 2 });
  });

  it("app A's writes and invalidateAll leave app B's cached rows of the same table name alone", async () => {
    const [appA, appB, appB2] = [app('a'), app('b'), app('b')];
    await appA.set(schemaA, { id: 'same', n: 1 });
    await appB.set(schemaB, { id: 'same', n: 10 });
    expect((await appB.get(schemaB, 'same')).n).toBe(10);
    const heard = appB.stats().invalidationsApplied;
    await appA.set(schemaA, { id: 'same', n: 2 });
    await appA.invalidateAll(schemaA);
    await appA.delete(schemaA, 'same');
    await appB2.invalidate(schemaB, 'sentinel'); // B has had A's messages once it has this one
    await expect.poll(() => appB.stats().invalidationsApplied, { timeout: 2_000 }).toBeGreaterThan(heard);
    const l1Hits = appB.stats().hits.l1;
    expect((await appB.get(schemaB, 'same')).n).toBe(10);
    expect(appB.stats().hits.l1, "B's L1 copy stayed").toBe(l1Hits + 1);
    expect((await app('b', false).get(schemaB, 'same')).n, "and B's L2 copy").toBe(10);
  });
});

describe('write-behind pending rows x tags, expire, invalidateAll, with stale and grace windows', () => {
  // Three instances of one app (pub/sub bus, one Redis Stream queue, one manual clock), each with
  // Postgres behind one TCP proxy so Postgres can fail for all of them (grace answers then). The
  // rule under test (docs/semantics.md, "Staleness" and "What each operation guarantees"): a
  // pending write-behind row is the newest write, so no invalidation drops it, and neither stale
  // nor grace ever answers a row older than an acknowledged write, or one past a delete.
  const t = itemsIn('wb');
  const schema = defineSchema({
    table: t.table,
    writeMode: 'write-behind',
    tags: byLeague,
    l1: { ttl: '10s' },
    l2: { ttl: '30s' },
    stale: '1m',
    grace: '10m',
  });
  const keyPrefix = `${name}wb`;
  const clock = manualClock(Date.now());
  let proxy: TcpProxy;
  const instance = () => {
    const pool = new pg.Pool({ connectionString: proxy.url(databaseUrl), max: 2 });
    pool.on('error', () => {});
    pool.on('connect', (c) => c.on('error', () => {}));
    pools.push(pool);
    return open({
      l2: createIoredisL2(redisUrl),
      l3: createDrizzleL3(drizzle({ client: pool }), { migrationsSchema: t.pgName }),
      keyPrefix,
      clock,
      // Postgres fails here by refusals and cuts, which end a call at once: the L3 timeout is a safety
      // net only, one that no call going through reaches on a busy machine (see BUSY_TIMEOUT).
      timeouts: { l3: BUSY_TIMEOUT },
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${keyPrefix}:bus` }) },
      writeBehind: { queue: createRedisStreamQueue({ url: redisUrl, keyPrefix, allowVolatile: true }) },
      schemas: [schema],
    });
  };
  const stored = async (id: string) =>
    (await admin.query(`select n from "${t.pgName}".items where id = $1`, [id])).rows[0]?.n ?? null;
  /** Postgres fails for every instance (new connections refused, open ones cut) until `up`. */
  const postgresDown = () => {
    proxy.refuse(true);
    proxy.cutAll();
  };
  const postgresUp = () => proxy.refuse(false);
  /** Resolves once `x` has had every bus message published before this call (a sentinel of its own). */
  const caughtUp = async (x: Strata, via: Strata) => {
    const heard = x.stats().invalidationsApplied;
    await via.invalidate(schema, `sentinel-${Math.random()}`);
    await expect.poll(() => x.stats().invalidationsApplied, { timeout: 2_000 }).toBeGreaterThan(heard);
  };
  const three = async () => {
    const all = [instance(), instance(), instance()] as const;
    for (const x of all) await x.find(schema, 'warm-up'); // subscribed, generation and tags known
    return all;
  };
  const n = async (x: Strata, id: string) => (await x.find(schema, id))?.n ?? null;

  beforeAll(async () => {
    proxy = await startTcpProxy(Number(new URL(databaseUrl).port || 5432));
    await t.create(defineSchema({ table: t.table }));
  });
  afterAll(async () => {
    await proxy?.close();
  });
  afterEach(() => postgresUp()); // runs before the file's afterEach: the instances close with Postgres up

  it('invalidateTags while a write is queued (or still going out): every instance reads the acknowledged write, graced too', async () => {
    const [a, b, c] = await three();
    await a.setMany(schema, [
      { id: 't1', n: 1 },
      { id: 't2', n: 1 },
    ]);
    await a.flushDirty();
    for (const x of [b, c]) expect([await n(x, 't1'), await n(x, 't2')]).toEqual([1, 1]); // in their L1s
    await a.set(schema, { id: 't1', n: 2 }); // acknowledged: pending in L2
    // B moves the tag at once (A's bus message may not have reached it): its own L1 copy goes now.
    await b.invalidateTags(['league:7']);
    expect(await n(a, 't1'), 'the writer').toBe(2);
    expect(await n(b, 't1'), 'the instance that moved the tag').toBe(2);
    // A write still going out when the tag moves (not awaited): once acknowledged, it is read.
    const out = a.set(schema, { id: 't2', n: 2 });
    await c.invalidateTags(['league:7']);
    await out;
    expect(await n(a, 't2')).toBe(2);
    await caughtUp(c, b);
    expect([await n(c, 't1'), await n(c, 't2')], 'C, told of both writes').toEqual([2, 2]);
    // Postgres fails, past the fresh time (inside grace): only the pending rows can answer.
    clock.advance(45_000);
    postgresDown();
    for (const x of [a, b, c]) expect([await n(x, 't1'), await n(x, 't2')]).toEqual([2, 2]);
    postgresUp();
    await a.flushDirty();
    expect([await stored('t1'), await stored('t2')]).toEqual([2, 2]);
    for (const x of [a, b, c, instance()]) expect([await n(x, 't1'), await n(x, 't2')]).toEqual([2, 2]);
  });

  it('expire over a queued set and a queued delete: grace never answers the older row, nor one past the delete', async () => {
    const [a, b, c] = await three();
    await a.setMany(schema, [
      { id: 'e1', n: 1 },
      { id: 'e2', n: 1 },
    ]);
    await a.flushDirty();
    for (const x of [b, c]) expect([await n(x, 'e1'), await n(x, 'e2')]).toEqual([1, 1]);
    await a.set(schema, { id: 'e1', n: 2 });
    await a.delete(schema, 'e2');
    for (const x of [a, b, c]) await x.expire(schema, 'e1');
    await c.expire(schema, 'e2');
    await caughtUp(b, c);
    await caughtUp(c, b);
    for (const x of [a, b, c]) expect([await n(x, 'e1'), await n(x, 'e2')], 'fresh reads').toEqual([2, null]);
    clock.advance(45_000); // every copy Postgres could refresh is past its fresh time: stale
    for (const x of [a, b, c]) expect([await n(x, 'e1'), await n(x, 'e2')], 'stale reads').toEqual([2, null]);
    postgresDown();
    clock.advance(60_000); // past stale, inside grace
    for (const x of [a, b, c, instance()])
      expect([await n(x, 'e1'), await n(x, 'e2')], 'graced reads').toEqual([2, null]);
    postgresUp();
    await a.flushDirty();
    expect([await stored('e1'), await stored('e2')]).toEqual([2, null]);
    // After the flush, an expire of the flushed row: grace answers it (the newest), never the n=1.
    await b.expire(schema, 'e1');
    postgresDown();
    // An expired row counts as 1 ms past its fresh time on every clock: answered stale.
    const aged = () => [a, b, c].reduce((sum, x) => sum + x.stats().staleHits + x.stats().graceHits, 0);
    const before = aged();
    for (const x of [a, b, c]) expect(await n(x, 'e1'), 'stale after the flush').toBe(2);
    expect(aged(), 'answered as aged copies (Postgres failed)').toBeGreaterThan(before);
  });

  it('invalidateAll while a write is queued and another instance reads: nobody reads the older row after it', async () => {
    const [a, b, c] = await three();
    await a.set(schema, { id: 'i1', n: 1 });
    await a.flushDirty();
    expect(await n(b, 'i1')).toBe(1);
    await a.set(schema, { id: 'i1', n: 2 });
    // A third write, C's invalidateAll and B's read all at once.
    const during = await Promise.all([
      a.set(schema, { id: 'i1', n: 3 }),
      c.invalidateAll(schema),
      n(b, 'i1'),
    ]);
    expect([1, 2, 3], 'the overlapping read answers one of the writes').toContain(during[2]);
    expect(await n(a, 'i1'), 'the writer').toBe(3);
    expect(await n(c, 'i1'), 'the instance that invalidated').toBe(3);
    await caughtUp(b, c);
    expect(await n(b, 'i1'), 'the reader, told').toBe(3);
    expect(await n(instance(), 'i1'), 'a new instance').toBe(3);
    postgresDown();
    clock.advance(45_000);
    for (const x of [a, b, c]) expect(await n(x, 'i1'), 'graced').toBe(3);
    postgresUp();
    await a.flushDirty();
    expect(await stored('i1')).toBe(3);
    await c.invalidateAll(schema); // after the flush: the flushed row is a cached copy, re-read
    for (const x of [a, b, c]) expect(await n(x, 'i1')).toBe(3);
  });
});

describe('stale windows and clocks minutes apart', () => {
  // Two instances of one app whose clocks are 2 minutes apart, over a schema with a 30 s TTL and a
  // 1 min stale window, L2 only (l1: false: every read asks L2). docs/semantics.md ("Staleness"):
  // "a hot key costs one query per TTL window however many instances read it"; and (last bound)
  // a clock ahead "costs Postgres reads, never rows answered past their fresh time".
  const t = itemsIn('skew');
  const schema = defineSchema({ table: t.table, l1: false, l2: { ttl: '30s' }, stale: '1m', grace: '10m' });
  const keyPrefix = `${name}sk`;
  const MIN = 60_000;
  // Real clocks, minutes apart (not manual: L2 is aged on Redis' clock, as in production).
  const instance = (offset: number) =>
    open({
      l2: createIoredisL2(redisUrl),
      l3: t.l3(),
      keyPrefix,
      clock: { now: () => Date.now() + offset },
      schemas: [schema],
    });

  beforeAll(async () => {
    await t.create(schema);
  });

  // Found by this probe (fixed): every read cost a Postgres query while two instances 2 minutes apart
  // took turns (20 reads, 19 queries, inside one TTL window). A fill stamped `freshUntil` with the
  // filling instance's clock; the instance behind read the other's stamp as further ahead than the
  // TTL + 1 s (a miss), filled again at the same version, and its stamp was past the stale window
  // for the other: each undid the other's fill. L2 values are now stamped and aged on Redis' clock
  // (each instance's offset to it comes with its generation reads: L2Watch.skew).
  it('two instances 2 minutes apart taking turns cost at most a few Postgres reads per TTL window', async () => {
    const normal = instance(0);
    const behind = instance(-2 * MIN);
    await normal.set(schema, { id: 's1', n: 1 });
    for (let i = 0; i < 10; i++) {
      expect((await normal.get(schema, 's1')).n).toBe(1);
      expect((await behind.get(schema, 's1')).n).toBe(1);
      await Promise.all([normal.settled(), behind.settled()]);
    }
    const reads = normal.stats().l3Reads + behind.stats().l3Reads;
    expect(reads, 'Postgres reads for 20 reads inside one TTL').toBeLessThanOrEqual(4);
  });

  it('a row filled by an instance minutes behind is as old for the others as for itself', async () => {
    const normal = instance(0);
    const behind = instance(-2 * MIN);
    await normal.set(schema, { id: 's2', n: 1 });
    await normal.invalidate(schema, 's2'); // L2 holds no copy: the instance behind fills it
    const filling = Date.now();
    expect((await behind.get(schema, 's2')).n).toBe(1);
    await behind.settled();
    // On its own clock that fill was fresh until 90 s ago for `normal`: past the stale window.
    const { row, status } = await normal.findWithStatus(schema, 's2');
    const elapsed = Date.now() - filling; // seconds on a loaded CI machine, not minutes
    expect({ n: row?.n, tier: status.tier, stale: status.stale }).toEqual({ n: 1, tier: 'l2', stale: false });
    expect(status.freshForMs).toBeGreaterThan(30_000 - elapsed - 1_000);
    // Read against this instance's estimate of Redis' clock (from round trips: a few ms off at
    // most), not its own clock: CI read 30,001 once.
    expect(status.freshForMs).toBeLessThanOrEqual(30_000 + 50);
  });
});

describe('batches naming one key twice, or by two spellings of one id', () => {
  // docs/semantics.md ("Ids and primary keys"): a UUID in any case is the lowercase one, a digit
  // string is the integer; setMany's doc: several rows with one id, each later one over the ones before it. And a hook's
  // throw "becomes HOOK_PANIC with the cause and no tier is touched" (docs/api.md), for a batch too.
  const pgName = `${name}_ids`;
  const uids = pgSchema(pgName).table('uids', { id: uuid('id').primaryKey(), n: integer('n').notNull() });
  const nums = pgSchema(pgName).table('nums', { id: integer('id').primaryKey(), n: integer('n').notNull() });
  const unlucky = {
    beforeSet: (row: Record<string, unknown>) => {
      if (row.n === 13) throw new Error('13 is refused');
    },
  };
  const modes = ['write-through', 'write-behind'] as const;
  const schemaPairs = Object.fromEntries(
    modes.map((writeMode) => [
      writeMode,
      {
        u: defineSchema({ table: uids, writeMode, name: `uids-${writeMode}`, hooks: unlucky }),
        i: defineSchema({ table: nums, writeMode, name: `nums-${writeMode}`, hooks: unlucky }),
      },
    ]),
  );
  const schemasOf = (writeMode: (typeof modes)[number]) => schemaPairs[writeMode]!;
  const instance = (writeMode: (typeof modes)[number]) => {
    const keyPrefix = `${name}ids-${writeMode}`;
    const { u, i } = schemasOf(writeMode);
    return open({
      l2: createIoredisL2(redisUrl),
      l3: createDrizzleL3(db, { migrationsSchema: pgName }),
      keyPrefix,
      writeBehind: { queue: createRedisStreamQueue({ url: redisUrl, keyPrefix, allowVolatile: true }) },
      schemas: [u, i],
    });
  };
  const rows = async (table: string) =>
    (await admin.query(`select id, n from "${pgName}".${table} order by id`)).rows as {
      id: unknown;
      n: number;
    }[];
  const l2Keys = async (writeMode: string) => (await raw.keys(`${name}ids-${writeMode}:*:r:*`)).sort();

  beforeAll(async () => {
    await admin.query(`create schema "${pgName}"`);
    const { u, i } = schemasOf('write-through');
    await new Strata({ l3: createDrizzleL3(db, { migrationsSchema: pgName }), schemas: [u, i] }).migrate();
  });
  // One app per mode (its own keyPrefix) on the same tables, one test after the other: the last
  // test's app (closed) held them; its claim lapses as a stopped app's would (semantics.md, "One
  // writer per table").
  beforeEach(() => lapseWriterClaims(admin, pgName, { redis: raw, keyPrefix: name }));

  it.each(modes)(
    '%s: the last spelling wins in every tier, and a new instance reads it from L2',
    async (mode) => {
      const { u, i } = schemasOf(mode);
      const x = instance(mode);
      const id =
        mode === 'write-through'
          ? 'a0a0a0a0-0000-4000-8000-00000000000a'
          : 'b0b0b0b0-0000-4000-8000-00000000000b';
      const num = mode === 'write-through' ? 42 : 43;
      await x.setMany(u, [
        { id: id.toUpperCase(), n: 1 },
        { id, n: 2 },
        { id: id.toUpperCase(), n: 3 },
      ]);
      await x.setMany(i, [
        { id: num, n: 1 },
        { id: String(num) as never, n: 2 },
      ]);
      await x.flushDirty();
      expect((await rows('uids')).filter((r) => r.id === id)).toEqual([{ id, n: 3 }]);
      expect((await rows('nums')).filter((r) => r.id === num)).toEqual([{ id: num, n: 2 }]);
      expect((await x.get(u, id.toUpperCase())).n).toBe(3);
      const other = instance(mode);
      expect(await other.get(u, id)).toEqual({ id, n: 3 });
      expect(await other.get(i, String(num))).toEqual({ id: num, n: 2 });
      expect({
        l2Hits: other.stats().hits.l2,
        l3Reads: other.stats().l3Reads,
        l2Errors: other.stats().errorsBy.l2 ?? 0,
      }).toEqual({
        l2Hits: 2,
        l3Reads: 0,
        l2Errors: 0,
      });
      // deleteMany with the same id three ways: one row existed.
      const deleted = await x.deleteMany(i, [num, String(num), num]);
      if (mode === 'write-through') expect(deleted).toBe(1);
      await x.flushDirty();
      expect((await rows('nums')).filter((r) => r.id === num)).toEqual([]);
      expect(
        await instance(mode).find(i, num),
        'a new instance: L2 holds the delete (no bus here)',
      ).toBeNull();
    },
  );

  it.each(modes)('%s: a beforeSet that throws for one row of a setMany writes none of them', async (mode) => {
    const { i } = schemasOf(mode);
    const x = instance(mode);
    const base = mode === 'write-through' ? 100 : 200;
    const before = { keys: await l2Keys(mode), depth: await x.queueDepth() };
    const err = await x
      .setMany(i, [
        { id: base + 1, n: 1 },
        { id: base + 2, n: 13 },
        { id: base + 3, n: 3 },
      ])
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'HOOK_PANIC' });
    expect((await rows('nums')).filter((r) => Number(r.id) > base && Number(r.id) < base + 10)).toEqual([]);
    expect({ keys: await l2Keys(mode), depth: await x.queueDepth() }).toEqual(before);
    expect(await x.find(i, base + 1)).toBeNull();
    // Its keys are free again: a later batch of the same ids goes through, in call order.
    await x.setMany(i, [{ id: base + 1, n: 11 }]);
    await x.delete(i, base + 1);
    await x.setMany(i, [{ id: base + 1, n: 12 }]);
    await x.flushDirty();
    expect((await rows('nums')).filter((r) => r.id === base + 1)).toEqual([{ id: base + 1, n: 12 }]);
  });
});

describe('a Redis restarted without its data x tags, expire and tagged cached searches', () => {
  // A redis-server of this file's own (L2), killed by its PID and started again empty; no bus
  // (the bounds are then the L1 TTL, 2 s here, and the generation refresh, 5 s). After both have
  // passed, docs/semantics.md ("Faults", "Bounds that remain"): the reset is an invalidateAll of
  // every schema, and tag moves made after it drop what was read before them.
  const t = itemsIn('rs');
  const schema = defineSchema({
    table: t.table,
    tags: byLeague,
    l1: { ttl: '2s' },
    stale: '1m',
    grace: '10m',
  });
  const keyPrefix = `${name}rs`;
  const clock = manualClock(Date.now());
  let redis: RedisProcess;
  const clients: Redis[] = [];
  const instance = () => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0, protocol: 2, retryStrategy: () => 50 });
    client.on('error', () => {});
    clients.push(client);
    return open({ l2: createIoredisL2(client), l3: t.l3(), keyPrefix, clock, schemas: [schema] });
  };
  const n = async (x: Strata, id: string) => (await x.find(schema, id))?.n ?? null;

  beforeAll(async () => {
    redis = await startRedisProcess();
    await t.create(schema);
  });
  afterAll(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await redis?.close();
  });

  it('after the bounds, tag moves, expire and tagged lists made after the restart hold', async () => {
    const [a, b] = [instance(), instance()];
    await a.setMany(schema, [
      { id: 'r1', n: 1 },
      { id: 'r2', n: 1 },
    ]);
    for (let i = 0; i < 5; i++) await a.invalidateTags(['league:7']); // the tag counter is at 5
    const q = Q().where('id = $1', 'r1').tags('league:7').build();
    for (const x of [a, b]) {
      expect([await n(x, 'r1'), await n(x, 'r2')]).toEqual([1, 1]); // stamped 5
      expect((await x.searchCached(schema, q)).map((r) => r.n)).toEqual([1]);
      await x.settled();
    }
    await redis.restart({ dropData: true });
    clock.advance(6_000); // past L1's TTL and the generation refresh
    expect(await n(a, 'r1'), 'A, after the reset').toBe(1); // A finds the reset, fills again from 0
    await t.update('r1', 2);
    await t.update('r2', 2);
    await a.invalidateTags(['league:7']); // tick 1 of the new Redis life
    // B's L1 copy from before the reset is past its TTL, inside the stale window: without a bus it
    // is answered stale (L1 keeps TTL + window; the documented no-bus bound), and refreshed.
    expect(await b.findWithStatus(schema, 'r1')).toMatchObject({
      row: { n: 1 },
      status: { tier: 'l1', stale: true },
    });
    await b.settled();
    expect([await n(b, 'r1'), await n(a, 'r1')], 'the tag moved after the reset').toEqual([2, 2]);
    expect(
      (await b.searchCached(schema, q)).map((r) => r.n),
      'a tagged list',
    ).toEqual([2]);
    await b.settled();
    // expire after the reset: the refreshed copy goes stale, Postgres answers the refresh.
    expect(await n(b, 'r2')).toBe(2);
    await t.update('r2', 3);
    await b.expire(schema, 'r2');
    expect(await n(b, 'r2'), 'answered stale at once').toBe(2);
    await b.settled();
    expect(await n(b, 'r2'), 'then refreshed').toBe(3);
    await t.update('r1', 3);
    await b.invalidateTags(['league:7']);
    expect(
      (await a.searchCached(schema, q)).map((r) => r.n),
      "A's list after B's move",
    ).toEqual([3]);
  });
});
