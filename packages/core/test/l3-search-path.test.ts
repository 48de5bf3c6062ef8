import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { index, integer, pgTable, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/l3.js';
import { defineSchema } from '../src/schema/define-schema.js';

// Unqualified tables and the default (unqualified) _strata_migrations land in current_schema(). A
// search_path of our own keeps this run away from `public` and from other test files. The session
// also runs with standard_conforming_strings off, where a backslash in a plain '' literal escapes.
const schemaName = uniqueName('l3_search_path');
const pool = new pg.Pool({
  connectionString: serviceUrls().databaseUrl,
  options: `-c search_path=${schemaName} -c standard_conforming_strings=off`,
});
pool.on('error', () => {});
const db = drizzle({ client: pool });
const l3 = createDrizzleL3(db);

const TRICKY = "a\\'); drop table notes; --";
const notes = defineSchema({
  table: pgTable(
    'notes',
    { id: text('id').primaryKey(), n: integer('n'), tag: text('tag').default(TRICKY) },
    (t) => [index().on(t.n)],
  ),
});

beforeAll(async () => {
  await db.execute(sql`create schema ${sql.identifier(schemaName)}`);
});
afterAll(async () => {
  await db.execute(sql`drop schema if exists ${sql.identifier(schemaName)} cascade`);
  for (const suffix of ['_ops', '_reads'])
    await db.execute(sql`drop schema if exists ${sql.identifier(`${schemaName}${suffix}`)} cascade`);
  await pool.end();
});

it('reports no records before the migrations table exists', async () => {
  const { rows } = await pool.query<{ standard_conforming_strings: string }>(
    'show standard_conforming_strings',
  );
  expect(rows[0]?.standard_conforming_strings).toBe('off');
  expect(await l3.migrationStatus()).toEqual([]);
});

it('migrates unqualified tables into current_schema(), once', async () => {
  const first = await l3.migrate([notes]);
  expect(first.applied).toEqual([
    'CREATE TABLE IF NOT EXISTS "notes" ("id" text PRIMARY KEY NOT NULL, "n" integer, "tag" text DEFAULT ' +
      `E'a\\\\''); drop table notes; --')`,
    'CREATE INDEX IF NOT EXISTS "notes_n_index" ON "notes" ("n")',
  ]);
  expect(await l3.migrate([notes])).toEqual({ applied: [], records: [] });
  const { rows } = await pool.query<{ table_name: string }>(
    'select table_name from information_schema.tables where table_schema = $1 order by table_name',
    [schemaName],
  );
  expect(rows.map((r) => r.table_name)).toEqual([
    '_strata_counters',
    '_strata_migrations',
    '_strata_versions',
    '_strata_withdrawn',
    'notes',
  ]);
  expect(await l3.migrationStatus()).toEqual(first.records);
  await l3.write([{ schema: notes, writes: [{ row: { id: 'a', n: 1 } }] }]);
  expect(await l3.findMany(notes, ['a'])).toEqual([{ row: { id: 'a', n: 1, tag: TRICKY }, version: 1 }]);
});

it('records versions in the unqualified _strata_versions, under the unqualified identity', async () => {
  const [outcomes] = await l3.write([
    {
      schema: notes,
      writes: [
        { row: { id: 'v', n: 2 }, version: 2 },
        { id: 'a', version: 2 },
      ],
    },
  ]);
  expect(outcomes).toEqual([
    { applied: true, version: 2, row: { id: 'v', n: 2, tag: TRICKY } },
    { applied: true, version: 2, existed: true },
  ]);
  const { rows } = await pool.query<{ schema: string; id: string; version: string; deleted: boolean }>(
    'select schema, id, version, deleted from _strata_versions order by id',
  );
  expect(rows).toEqual([
    { schema: 'notes', id: 'a', version: '2', deleted: true },
    { schema: 'notes', id: 'v', version: '2', deleted: false },
  ]);
  expect(await l3.findMany(notes, ['a', 'v'])).toEqual([{ row: { id: 'v', n: 2, tag: TRICKY }, version: 2 }]);
});

const versionsTables = (schema: string) =>
  pool.query<{ n: number }>(
    'select count(*)::int as n from information_schema.tables where table_schema = $1 and table_name = $2',
    [schema, '_strata_versions'],
  );

it('creates a missing migrationsSchema and _strata_versions in it on the first write', async () => {
  const ops = createDrizzleL3(db, { migrationsSchema: `${schemaName}_ops` });
  const write = { schema: notes, writes: [{ row: { id: 'o', n: 3 }, version: 1 }] };
  expect((await ops.write([write]))[0]?.[0]).toMatchObject({ applied: true, version: 1 });
  expect(await ops.write([write])).toEqual([[{ applied: false, version: 1 }]]);
  expect((await versionsTables(`${schemaName}_ops`)).rows).toEqual([{ n: 1 }]);
});

it('and on the first read, which finds no versions there', async () => {
  const reads = createDrizzleL3(db, { migrationsSchema: `${schemaName}_reads` });
  expect(await reads.findMany(notes, ['o'])).toEqual([{ row: { id: 'o', n: 3, tag: TRICKY }, version: 0 }]);
  expect((await versionsTables(`${schemaName}_reads`)).rows).toEqual([{ n: 1 }]);
});
