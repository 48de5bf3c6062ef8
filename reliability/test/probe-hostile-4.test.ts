import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata, type StrataConfig } from '@strata/core';
import { createDrizzleL3, readYourWrites } from '@strata/core/drizzle';
import { msgpackCodec } from '@strata/core/msgpack';
import { type PostgresReplica, startPostgresReplica } from '@strata/devstack/postgres-replica';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

// Hostile round 4: setups the earlier probes do not walk. Each test asserts every tier (L1 through
// the instances' reads, L2 through the raw Redis values) and Postgres after the fact.
//
// Found here: `invalidate`, `expire` (of a tombstone) and the other drops DELeted the L2 key, and with
// it the version that refuses older fills. A read that began before (a late reply, or a read
// replica that had not replayed the write) then filled the older row back, or the row a delete
// removed, and every instance, the writer too, read it until the L2 TTL. A drop now leaves a
// superseded marker at the dropped value's version (DROP in packages/core/src/l2/scripts.ts).
//
// And: a key read routed to a read replica (`replicaReads: 'all'`) took whatever the replica
// answered when L2 missed, even when L2 still held a newer version for the key (the marker above,
// a row of an older generation after invalidateAll). The writer's read-your-writes covers only its
// own commits (their WAL position): a write-behind write that another instance's flusher committed
// was read back older. Such a read now goes to the primary (`aboveFloors` in engine/l3-answers.ts).
//
// And: in a rolling deploy (two live shapes), the drop deleted the row's key under the other
// shape, so the older row came back there (`twin_put` in shape-scripts.ts); and a wall clock that
// stepped back stretched every TTL and interval by the step (`engine/steady-clock.ts`).

const { redisUrl } = serviceUrls();
const name = uniqueName('probe_h4');
const raw = new Redis(redisUrl, { protocol: 2, lazyConnect: true } as never);
raw.on('error', () => {});
const opened: { close(): Promise<void> }[] = [];
const pools: pg.Pool[] = [];

function open(config: StrataConfig): Strata {
  const strata = new Strata(config);
  opened.push(strata);
  return strata;
}

function pool(url: string): pg.Pool {
  const p = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 2_000 });
  p.on('error', () => {});
  pools.push(p);
  return p;
}

/** Resolves once `done()` holds (checked on each turn of the event loop), or fails after 5 s. */
async function until(done: () => boolean): Promise<void> {
  const by = Date.now() + 5_000;
  while (!done()) {
    if (Date.now() > by) throw new Error('until: timed out');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

beforeAll(async () => {
  await raw.connect();
});

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await Promise.allSettled(pools.splice(0).map((p) => p.end()));
  const keys = await raw.keys(`${name}*`);
  if (keys.length > 0) await raw.del(...keys);
  raw.disconnect();
});

describe('a Postgres streaming replica behind key reads, with invalidate / expire after a write', () => {
  // Instances read keys that miss L1 and L2 from a replica (`replicaReads: 'all'`), whose replay is
  // paused (a deterministic lag). The writer A invalidates (or expires) a key it just wrote or
  // deleted; another instance B, that has not written, then reads the key from the lagging replica
  // and fills L2. docs/semantics.md: the writer reads its writes whatever the replica's lag, and a
  // fill never replaces a newer version in any cache.
  const pgName = `${name}_replica`;
  const table = pgSchema(pgName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  let pair: PostgresReplica;
  let primaryDb: ReturnType<typeof drizzle>;
  let replicaDb: ReturnType<typeof drizzle>;
  const channel = `${name}:bus`;

  const schemaFor = (replica: ReturnType<typeof createDrizzleL3>) =>
    defineSchema({
      table,
      l1: { ttl: '10m' },
      l2: { ttl: '10m' },
      l3: { readReplica: replica, replicaReads: 'all' },
    });
  const wbTable = pgSchema(pgName).table('queued', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
  });
  const instance = (codec?: StrataConfig['codec']) => {
    const replica = createDrizzleL3(replicaDb, { migrationsSchema: pgName, name: 'replica' });
    const schema = schemaFor(replica);
    const queued = defineSchema({
      table: wbTable,
      writeMode: 'write-behind',
      l1: { ttl: '10m' },
      l2: { ttl: '10m' },
      l3: { readReplica: replica, replicaReads: 'all' },
    });
    const strata = open({
      l2: createIoredisL2(redisUrl),
      l3: createDrizzleL3(primaryDb, { migrationsSchema: pgName }),
      keyPrefix: `${name}r`,
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel }) },
      replicas: readYourWrites,
      ...(codec && { codec }),
      writeBehind: {
        queue: createRedisStreamQueue({ url: redisUrl, keyPrefix: `${name}r`, allowVolatile: true }),
      },
      schemas: [schema, queued],
    });
    return { strata, schema, queued };
  };
  const inPostgres = async (id: string, table = 'items') => {
    const { rows } = await pools[0]!.query(`select n from "${pgName}".${table} where id = $1`, [id]);
    return rows[0]?.n ?? null;
  };
  /** The raw L2 values of this app's keys of `id` (every shape, every envelope kind). */
  const l2Values = async (id: string) => {
    const keys = (await raw.keys(`${name}r*:r:${id}`)).sort();
    return keys.length === 0 ? [] : await raw.mget(...keys);
  };

  beforeAll(async () => {
    pair = await startPostgresReplica();
    primaryDb = drizzle({ client: pool(pair.primary.url) });
    replicaDb = drizzle({ client: pool(pair.replica.url) });
    await pools[0]!.query(`create schema "${pgName}"`);
    const { strata } = instance();
    await strata.migrate();
    await strata.close();
    await pair.caughtUp();
  }, 60_000);

  afterAll(async () => {
    await pair?.stop();
  });

  it.each([
    ['invalidate', 'set'],
    ['invalidate', 'delete'],
    ['expire', 'delete'],
  ] as const)(
    '%s after a %s: a lagging replica read by another instance puts nothing older back',
    async (drop, write) => {
      const id = `${drop}-${write}`;
      const a = instance();
      const b = instance();
      await a.strata.set(a.schema, { id, n: 1 });
      await pair.caughtUp();
      expect(await b.strata.find(b.schema, id)).toEqual({ id, n: 1 });
      await pair.pauseReplay();
      try {
        if (write === 'set') await a.strata.set(a.schema, { id, n: 2 });
        else await a.strata.delete(a.schema, id);
        const acknowledged = write === 'set' ? { id, n: 2 } : null;
        const heard = b.strata.stats().invalidationsApplied;
        if (drop === 'invalidate') await a.strata.invalidate(a.schema, id);
        else await a.strata.expire(a.schema, id);
        // B has heard both messages (the write's and the invalidation's) before it reads.
        await until(() => b.strata.stats().invalidationsApplied >= heard + 2);
        // B has not written, but L2 still carries the version the drop left: the replica is behind
        // it, so B reads the primary (before: B answered the replica's older row, within the lag).
        expect(await b.strata.find(b.schema, id)).toEqual(acknowledged);
        await b.strata.settled();
        // A reads its own acknowledged write, whatever B read.
        expect(await a.strata.find(a.schema, id)).toEqual(acknowledged);
        expect(await inPostgres(id)).toBe(write === 'set' ? 2 : null);
      } finally {
        await pair.resumeReplay();
      }
      await pair.caughtUp();
      // Replayed: every instance, and L2, hold the acknowledged write (or nothing).
      const c = instance();
      const expected = write === 'set' ? { id, n: 2 } : null;
      expect(await c.strata.find(c.schema, id)).toEqual(expected);
      expect(await a.strata.find(a.schema, id)).toEqual(expected);
      expect(await b.strata.find(b.schema, id)).toEqual(expected);
      for (const value of await l2Values(id)) expect(value).not.toMatch(/"n":1\b/);
    },
  );

  it.each(['invalidate', 'invalidateAll'] as const)(
    "a write-behind write flushed by another instance, then %s: the writer reads it, not the lagging replica's row",
    async (drop) => {
      const id = `wb-${drop}`;
      const a = instance();
      const b = instance();
      await a.strata.set(a.queued, { id, n: 1 });
      await a.strata.flushDirty();
      await pair.caughtUp();
      await pair.pauseReplay();
      try {
        await a.strata.set(a.queued, { id, n: 2 });
        // Every instance runs a flusher on the shared stream: here B's takes A's write.
        await b.strata.flushDirty();
        expect(await inPostgres(id, 'queued')).toBe(2);
        expect(b.strata.stats().flushed).toBe(1);
        if (drop === 'invalidate') await a.strata.invalidate(a.queued, id);
        else await a.strata.invalidateAll(a.queued);
        // A's own acknowledged write: never the replica's older row.
        expect(await a.strata.find(a.queued, id)).toEqual({ id, n: 2 });
        await a.strata.settled();
        expect(await a.strata.find(a.queued, id)).toEqual({ id, n: 2 });
      } finally {
        await pair.resumeReplay();
      }
      await pair.caughtUp();
      const c = instance();
      expect(await c.strata.find(c.queued, id)).toEqual({ id, n: 2 });
      expect(await a.strata.find(a.queued, id)).toEqual({ id, n: 2 });
      for (const value of await l2Values(id)) expect(value).not.toMatch(/"n":1\b/);
    },
  );

  it('a rolling deploy (two live shapes): invalidate leaves the other shape its floor too', async () => {
    // Two versions of the app serve the table at once (here the codec differs: two shapes, two
    // keys per row). A's drop marks the key under the other shape too (docs/semantics.md, rolling
    // deploys); that key must keep the version, or B's lagging replica read fills the older row
    // under it, and every instance of B's version reads it after the replica has caught up.
    const id = 'two-shapes';
    const a = instance();
    const b = instance(msgpackCodec);
    await a.strata.set(a.schema, { id, n: 1 });
    await pair.caughtUp();
    expect(await b.strata.find(b.schema, id)).toEqual({ id, n: 1 });
    await pair.pauseReplay();
    try {
      const heard = b.strata.stats().invalidationsApplied;
      await a.strata.set(a.schema, { id, n: 2 });
      await a.strata.invalidate(a.schema, id);
      expect(await a.strata.find(a.schema, id)).toEqual({ id, n: 2 });
      await until(() => b.strata.stats().invalidationsApplied >= heard + 2);
      await b.strata.find(b.schema, id);
      await b.strata.settled();
    } finally {
      await pair.resumeReplay();
    }
    await pair.caughtUp();
    const c = instance(msgpackCodec);
    expect(await c.strata.find(c.schema, id)).toEqual({ id, n: 2 });
    expect(await b.strata.find(b.schema, id)).toEqual({ id, n: 2 });
  });
});

describe('a clock that steps back (NTP, a VM resumed) on one instance', () => {
  // B's clock is the system clock plus a shift the test moves: not a manual clock, so Strata takes
  // it as a real one. B has no bus: its L1 copy lives its TTL (docs/coherence.md: "without a bus,
  // until its L1 TTL"). A writes the row; B's clock steps back an hour, then 2 s pass on it.
  const pgName = `${name}_clock`;
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }),
  });
  const schema = defineSchema({
    table,
    l1: { ttl: '1s' },
    l2: { ttl: '10m' },
    fields: { at: { autoNow: true } },
  });
  const { databaseUrl } = serviceUrls();
  let db: ReturnType<typeof drizzle>;

  beforeAll(async () => {
    db = drizzle({ client: pool(databaseUrl) });
    await pools.at(-1)!.query(`create schema "${pgName}"`);
    await new Strata({ l3: createDrizzleL3(db, { migrationsSchema: pgName }), schemas: [schema] }).migrate();
  });

  afterAll(async () => {
    await pools.at(-1)!.query(`drop schema if exists "${pgName}" cascade`);
  });

  it('the L1 TTL is counted in elapsed time: a step back does not keep an overwritten row for the step', async () => {
    let shift = 0;
    const stepped = { now: () => Date.now() + shift };
    const config = (clock?: { now(): number }) =>
      open({
        l2: createIoredisL2(redisUrl),
        l3: createDrizzleL3(db, { migrationsSchema: pgName }),
        keyPrefix: `${name}c`,
        ...(clock && { clock }),
        schemas: [schema],
      });
    const a = config();
    const b = config(stepped);
    await a.set(schema, { id: 'k', n: 1 });
    expect(await b.find(schema, 'k')).toMatchObject({ id: 'k', n: 1 });
    await a.set(schema, { id: 'k', n: 2 });
    shift = -3_600_000;
    // B reads something else meanwhile: it sees its clock go back.
    expect(await b.find(schema, 'other')).toBeNull();
    shift += 2_000;
    // 2 s have passed on B since its fill, past the 1 s TTL: B reads the write.
    expect(await b.find(schema, 'k')).toMatchObject({ id: 'k', n: 2 });
    // What B stamps for people and Postgres (autoNow) is its wall clock, stepped back as it is.
    const before = Date.now() + shift;
    await b.set(schema, { id: 'w', n: 1 });
    const { rows } = await pools.at(-1)!.query(`select at from "${pgName}".items where id = 'w'`);
    const at = (rows[0] as { at: Date }).at.getTime();
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now() + shift);
  });
});
