import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/index.js';
import { defineSchema } from '../src/index.js';

// One-row writes and reads run as statements prepared once per connection (OneRowStatements,
// OneRowReads). A migration that changes the table under a prepared plan must not break them.
const name = uniqueName('l3_prepared');
const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 1 }); // one connection: the plan is there
const db = drizzle(pool);
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n') });
const schema = defineSchema({ table });
const l3 = createDrizzleL3(db, { migrationsSchema: name });

beforeAll(async () => {
  await pool.query(`create schema "${name}"`);
  await l3.migrate([schema]);
});
afterAll(async () => {
  await pool.query(`drop schema if exists "${name}" cascade`);
  await pool.end();
});

const named = async () =>
  (await pool.query(`select count(*)::int as n from pg_prepared_statements where name like 'strata\\_%'`))
    .rows[0].n as number;

describe('one-row statements prepared once', () => {
  it('keeps one prepared statement per shape, however many writes and reads', async () => {
    for (let i = 0; i < 20; i++) await l3.write([{ schema, writes: [{ row: { id: `k${i % 3}`, n: i } }] }]);
    for (let i = 0; i < 20; i++)
      expect((await l3.findMany(schema, [`k${i % 3}`]))[0]?.row.id).toBe(`k${i % 3}`);
    await l3.write([{ schema, writes: [{ id: 'k2' }] }]);
    // A set, a read, a delete: three statements on this connection, whatever the values.
    expect(await named()).toBe(3);
    expect((await l3.findMany(schema, ['k1']))[0]).toEqual({ row: { id: 'k1', n: 19 }, version: 7 });
    expect(await l3.findMany(schema, ['k2'])).toEqual([]);
  });

  it('a migration that changes the columns under a prepared plan: the next write and read still work', async () => {
    await pool.query(`alter table "${name}".items add column extra text default 'x'`);
    const [outcome] = await l3.write([{ schema, writes: [{ row: { id: 'k1', n: 100 } }] }]);
    expect(outcome?.[0]).toMatchObject({ applied: true, version: 8, row: { id: 'k1', n: 100 } });
    await pool.query(`alter table "${name}".items alter column n type bigint`);
    const [row] = await l3.findMany(schema, ['k1']);
    expect(row?.version).toBe(8);
    expect(Number(row?.row.n)).toBe(100);
    const [again] = await l3.write([{ schema, writes: [{ row: { id: 'k1', n: 101 } }] }]);
    expect(again?.[0]).toMatchObject({ applied: true, version: 9 });
  });
});
