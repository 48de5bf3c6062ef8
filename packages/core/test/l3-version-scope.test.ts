import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/index.js';
import { defineSchema } from '../src/index.js';
import { EPOCH_SPAN } from '../src/l3/epoch-span.js';

// Two apps share one database and one `_strata_versions`, each with a Strata schema named 'players'
// over a table of its own Postgres schema. Version rows are keyed by the schema's identity (its
// qualified table), so neither app's versions ever order the other's writes.
const [appA, appB, shared] = [uniqueName('vscope_a'), uniqueName('vscope_b'), uniqueName('vscope_v')];
const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 2 });
const db = drizzle(pool);
const players = (schema: string) =>
  defineSchema({
    name: 'players',
    table: pgSchema(schema).table('players', {
      id: text('id').primaryKey(),
      level: integer('level').notNull(),
    }),
  });
const [a, b] = [players(appA), players(appB)];
const l3 = createDrizzleL3(db, { migrationsSchema: shared });

beforeAll(async () => {
  await l3.migrate([a, b]);
});
afterAll(async () => {
  for (const schema of [appA, appB, shared])
    await db.execute(sql.raw(`drop schema if exists "${schema}" cascade`));
  await pool.end();
});

it('the two tables have two identities', () => {
  expect([a.name, b.name]).toEqual(['players', 'players']);
  expect([a.identity, b.identity]).toEqual([`${appA}.players`, `${appB}.players`]);
});

it('a newer Redis-ordered version in one app’s table does not make the other app’s older-numbered write skip', async () => {
  const first = await l3.write([{ schema: a, writes: [{ row: { id: 'x', level: 1 }, version: 1_000 }] }]);
  expect(first).toEqual([[{ applied: true, version: 1_000, row: { id: 'x', level: 1 } }]]);
  const second = await l3.write([{ schema: b, writes: [{ row: { id: 'x', level: 2 }, version: 5 }] }]);
  expect(second).toEqual([[{ applied: true, version: 5, row: { id: 'x', level: 2 } }]]);
  expect(await l3.findMany(a, ['x'])).toEqual([{ row: { id: 'x', level: 1 }, version: 1_000 }]);
  expect(await l3.findMany(b, ['x'])).toEqual([{ row: { id: 'x', level: 2 }, version: 5 }]);
});

it('Postgres-ordered versions count per table, also for the same key in one call', async () => {
  await l3.write([{ schema: a, writes: [{ row: { id: 'y', level: 1 } }] }]);
  const results = await l3.write([
    { schema: a, writes: [{ row: { id: 'y', level: 2 } }] },
    { schema: b, writes: [{ row: { id: 'y', level: 3 } }, { id: 'x' }] },
  ]);
  expect(results.map((r) => r.map((o) => [o.applied, o.version]))).toEqual([
    [[true, 2]],
    [
      [true, 1],
      [true, 6],
    ],
  ]);
  expect(await l3.findMany(a, ['x', 'y'])).toHaveLength(2);
  expect(await l3.findMany(b, ['x', 'y'])).toEqual([{ row: { id: 'y', level: 3 }, version: 1 }]);
});

it('epochs are per table too', async () => {
  expect(await l3.nextEpoch(a)).toBe(1);
  await l3.write([{ schema: a, writes: [{ id: 'x', version: 3 * EPOCH_SPAN }] }]);
  expect(await l3.nextEpoch(a)).toBe(4);
  expect(await l3.nextEpoch(b)).toBe(1);
  const { rows } = await pool.query<{ schema: string; n: number }>(
    `select schema, count(*)::int as n from "${shared}"._strata_versions group by schema order by schema`,
  );
  // x and y, and the epoch row, of each table.
  expect(rows).toEqual(
    [
      { schema: `${appA}.players`, n: 3 },
      { schema: `${appB}.players`, n: 3 },
    ].sort((p, q) => p.schema.localeCompare(q.schema)),
  );
});
