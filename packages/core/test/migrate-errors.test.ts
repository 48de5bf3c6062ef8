import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/index.js';
import { Strata } from '../src/index.js';
import { defineSchema } from '../src/schema/define-schema.js';
import { strataRejection } from '../testing/index.js';

// migrate() rejects with a StrataError (never the driver's own error) over a real Postgres: one it
// cannot reach, and one that refuses the DDL (a role of this file's own without CREATE on the database).
const { databaseUrl } = serviceUrls();
const schemaName = uniqueName('migrate_err');
const role = uniqueName('strata_nocreate');
const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
admin.on('error', () => {});
const items = defineSchema({
  table: pgSchema(schemaName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() }),
});

function strataOver(url: string): { strata: Strata; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 2_000 });
  pool.on('error', () => {});
  const strata = new Strata({
    l3: createDrizzleL3(drizzle({ client: pool }), { migrationsSchema: schemaName }),
    schemas: [items],
  });
  return { strata, pool };
}

const schemaExists = async () =>
  (await admin.query('select 1 from pg_namespace where nspname = $1', [schemaName])).rowCount === 1;

beforeAll(async () => {
  await admin.query(`create role "${role}" login`);
});
afterAll(async () => {
  await admin.query(`drop schema if exists "${schemaName}" cascade`);
  await admin.query(`drop role if exists "${role}"`);
  await admin.end();
});

it('Postgres unreachable: L3_UNAVAILABLE with the driver error as cause', async () => {
  const url = new URL(databaseUrl);
  url.port = '1'; // nothing listens on port 1 of loopback
  const { strata, pool } = strataOver(url.toString());
  const error = await strataRejection(strata.migrate());
  await pool.end();
  expect(error.code).toBe('L3_UNAVAILABLE');
  expect(error.message).toMatch(/^strata: migrate: Postgres did not answer .*ECONNREFUSED/);
  expect(error.cause).toBeInstanceOf(Error);
  expect(await schemaExists()).toBe(false);
});

it('DDL refused (no CREATE on the database): INVALID_MODEL with the SQLSTATE, nothing created', async () => {
  const url = new URL(databaseUrl);
  url.username = role;
  url.password = '';
  const { strata, pool } = strataOver(url.toString());
  const error = await strataRejection(strata.migrate());
  await pool.end();
  expect(error.code).toBe('INVALID_MODEL');
  expect(error).toMatchObject({ details: { sqlstate: '42501' } });
  expect(error.message).toMatch(/^strata: migrate: Postgres refused the DDL \(42501: permission denied/);
  expect(await schemaExists()).toBe(false);
});
