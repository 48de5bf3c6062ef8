import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { type CompiledSchema, defineSchema, Strata, type StrataConfig } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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
      await new Strata({ l3: createDrizzleL3(db, { migrationsSchema: pgName }), schemas: [schema] }).migrate();
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

afterAll(async () => {
  await Promise.allSettled(opened.splice(0).map((s) => s.close()));
  const { rows } = await admin.query<{ nspname: string }>(
    'select nspname from pg_namespace where nspname like $1',
    [`${name}%`],
  );
  for (const { nspname } of rows) await admin.query(`drop schema if exists "${nspname}" cascade`);
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
    const seen = { appB: (await appB.get(schemaB, 'b1')).n, freshB: (await app('b', false).get(schemaB, 'b1')).n };
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
