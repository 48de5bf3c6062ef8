/**
 * createLeanDrizzleL3: the Drizzle L3 with migrate() only when it is passed in, so a Worker whose
 * tables come from drizzle-kit does not bundle the DDL planner. Asked to migrate without it, it must
 * say what to pass and leave the database as it was; everything else works as createDrizzleL3's,
 * `_strata_versions` (created on first write, from static SQL) included.
 */
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLeanDrizzleL3, drizzleMigrate } from '../src/drizzle/index.js';
import { isStrataError, Strata } from '../src/index.js';
import { defineSchema } from '../src/schema/define-schema.js';

const schemaName = uniqueName('l3_lean');
const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 3 });
pool.on('error', () => {});
const db = drizzle({ client: pool });

const items = defineSchema({
  table: pgSchema(schemaName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() }),
});

/** The relations and schemas this file's names own, so "nothing changed" is a fact, not a hope. */
async function footprint(): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `select nspname as name from pg_namespace where nspname = $1
     union all select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 order by 1`,
    [schemaName],
  );
  return rows.map((r) => r.name);
}

async function rejection(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  expect(await footprint()).toEqual([]);
});
afterAll(async () => {
  await db.execute(sql`drop schema if exists ${sql.identifier(schemaName)} cascade`);
  await pool.end();
});

it('rejects migrate() with INVALID_CONFIG naming drizzleMigrate, and runs nothing', async () => {
  const statements: string[] = [];
  const logged = drizzle({ client: pool, logger: { logQuery: (query) => void statements.push(query) } });
  const l3 = createLeanDrizzleL3(logged, { migrationsSchema: schemaName });
  const error = await rejection(() => l3.migrate([items]));
  expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
  expect(String((error as Error).message)).toMatch(/migrate: drizzleMigrate/);
  expect((error as { details?: unknown }).details).toEqual({ l3: 'drizzle', missing: 'migrate' });
  expect(statements).toEqual([]);

  // Through the engine, capture included: the same error, before anything else runs.
  const strata = new Strata({ l3, schemas: [items] });
  const viaEngine = await rejection(() => strata.migrate({ capture: true }));
  expect(isStrataError(viaEngine, 'INVALID_CONFIG')).toBe(true);
  expect(statements).toEqual([]);
  await strata.close();
  expect(await footprint()).toEqual([]);
});

it('reads and writes tables made elsewhere, creating _strata_versions itself', async () => {
  // What drizzle-kit push would have made.
  await db.execute(sql.raw(`create schema "${schemaName}"`));
  await db.execute(sql.raw(`create table "${schemaName}"."items" (id text primary key, n integer not null)`));
  const l3 = createLeanDrizzleL3(db, { migrationsSchema: schemaName });
  const [outcomes] = await l3.write([{ schema: items, writes: [{ row: { id: 'a', n: 1 } }] }]);
  expect(outcomes).toEqual([{ applied: true, version: 1, row: { id: 'a', n: 1 } }]);
  expect(await l3.findMany(items, ['a'])).toEqual([{ row: { id: 'a', n: 1 }, version: 1 }]);
  expect(await footprint()).toEqual([
    schemaName,
    `${schemaName}._strata_versions`,
    `${schemaName}._strata_versions_pkey`,
    // Made with `_strata_versions`: its statements check a withdrawn write (drizzle/withdrawn-table.ts).
    `${schemaName}._strata_withdrawn`,
    `${schemaName}._strata_withdrawn_pkey`,
    `${schemaName}.items`,
    `${schemaName}.items_pkey`,
  ]);
  expect(await l3.migrationStatus()).toEqual([]);
});

it('migrates when drizzleMigrate is passed in, as createDrizzleL3 does', async () => {
  const l3 = createLeanDrizzleL3(db, { migrationsSchema: schemaName, migrate: drizzleMigrate });
  const others = defineSchema({
    table: pgSchema(schemaName).table('others', { id: text('id').primaryKey() }),
  });
  const result = await l3.migrate([items, others]);
  expect(result.applied).toEqual([
    `CREATE SCHEMA IF NOT EXISTS "${schemaName}"`,
    `CREATE TABLE IF NOT EXISTS "${schemaName}"."others" ("id" text PRIMARY KEY NOT NULL)`,
  ]);
  expect((await l3.migrationStatus()).map((r) => r.schema)).toEqual(['others']);
  expect(await l3.migrate([items, others])).toEqual({ applied: [], records: [] });
});
