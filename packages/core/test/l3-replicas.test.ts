import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text, withReplicas } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/l3.js';
import { defineSchema } from '../src/schema/define-schema.js';

// A database made with Drizzle's withReplicas(): search and scan map their rows themselves
// (drizzle/mapped-select.ts), and must still run where the select builder would, on a replica.
const schemaName = uniqueName('l3_replicas');
const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl });
pool.on('error', () => {});
const sent = { primary: 0, replica: 0 };
const primary = drizzle({ client: pool, logger: { logQuery: () => void sent.primary++ } });
const replica = drizzle({ client: pool, logger: { logQuery: () => void sent.replica++ } });
const l3 = createDrizzleL3(withReplicas(primary, [replica]), { migrationsSchema: schemaName });
const items = pgSchema(schemaName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const schema = defineSchema({ table: items });

beforeAll(async () => {
  await primary.execute(sql`create schema ${sql.identifier(schemaName)}`);
  await l3.migrate([schema]);
  await primary.insert(items).values([
    { id: 'a', n: 1 },
    { id: 'b', n: 2 },
  ]);
});
afterAll(async () => {
  await primary.execute(sql`drop schema if exists ${sql.identifier(schemaName)} cascade`);
  await pool.end();
});

it('runs search and scan on the replica the select chose, with versions', async () => {
  sent.primary = 0;
  sent.replica = 0;
  expect(await l3.search(schema, { where: eq(items.n, 2), limit: 10, offset: 0 })).toEqual([
    { row: { id: 'b', n: 2 }, version: 0 },
  ]);
  expect(await l3.scan(schema, { limit: 10 })).toEqual([
    { row: { id: 'a', n: 1 }, version: 0 },
    { row: { id: 'b', n: 2 }, version: 0 },
  ]);
  expect(sent).toEqual({ primary: 0, replica: 2 });
});
