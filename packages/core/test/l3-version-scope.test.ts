import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { createDrizzleL3, defineSchema } from '../src/index.js';

// Two apps share one database and one `_strata_versions`, each with a Strata schema named 'players'
// over a table of its own Postgres schema. Versions are kept per table, so neither skips the other's.
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

afterAll(async () => {
  for (const schema of [appA, appB, shared])
    await db.execute(sql.raw(`drop schema if exists "${schema}" cascade`));
  await pool.end();
});

it('a newer version in one app’s table does not make the other app’s older-numbered write skip', async () => {
  const [a, b] = [players(appA), players(appB)];
  const l3 = createDrizzleL3(db, { migrationsSchema: shared });
  await db.execute(sql.raw(`create schema if not exists "${shared}"`));
  await l3.migrate([a, b]);
  const [first] = await l3.applyVersioned([
    { schema: a, upserts: [{ row: { id: 'x', level: 1 }, version: 1_000 }], deletes: [] },
  ]);
  expect(first?.applied).toEqual(['x']);
  const [second] = await l3.applyVersioned([
    { schema: b, upserts: [{ row: { id: 'x', level: 2 }, version: 5 }], deletes: [] },
  ]);
  expect(second?.applied).toEqual(['x']);
  expect((await l3.findMany(b, ['x']))[0]).toEqual({ id: 'x', level: 2 });
  const scopes = await db.execute(sql.raw(`select schema from "${shared}"._strata_versions order by schema`));
  expect(scopes.rows.map((r) => r.schema)).toEqual([`${appA}.players`, `${appB}.players`].sort());
});
