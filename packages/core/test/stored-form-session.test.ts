// A Postgres whose sessions are not in UTC (nor DateStyle ISO): a write-behind set of ISO 8601 text
// is cached in the text of an ISO/UTC session until its flush, then every tier answers Postgres' own
// text of this session, as a read from Postgres does (the flush caches the rows Postgres applied).

import { serviceUrls } from '@strata/devstack/testing';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { changeCapture, createDrizzleL3 } from '../src/drizzle/index.js';
import { createMemoryQueue, defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

let stack: EngineStack;
let pool: pg.Pool;
beforeAll(async () => {
  stack = await engineStack('stored_session');
  pool = new pg.Pool({
    connectionString: serviceUrls().databaseUrl,
    max: 2,
    options: '-c TimeZone=America/New_York -c DateStyle=Postgres,MDY',
  });
});
afterAll(async () => {
  await pool?.end();
  await stack?.cleanup();
});

it("a write-behind ISO 8601 timestamptz: ISO/UTC text until the flush, then this session's text in every tier", async () => {
  const table = pgSchema(stack.name).table('at_ny', {
    id: text('id').primaryKey(),
    at: timestamp('at', { mode: 'string', withTimezone: true }),
  });
  const l3 = createDrizzleL3(drizzle(pool), { migrationsSchema: stack.name, capture: changeCapture });
  const queue = createMemoryQueue();
  const schema = defineSchema({ table, writeMode: 'write-behind' });
  const l2Schema = defineSchema({ table, writeMode: 'write-behind', l1: false });
  const open = (s: typeof schema) =>
    new Strata({
      l2: stack.l2,
      l3,
      keyPrefix: stack.keyPrefix,
      schemas: [s],
      writeBehind: { queue, threshold: 1e6 },
    });
  const writer = open(schema);
  const l2Alone = open(l2Schema);
  try {
    await writer.migrate();
    await writer.set(schema, { id: 'a', at: '2024-01-31T10:00:00.000Z' });
    expect((await writer.find(schema, 'a'))?.at).toBe('2024-01-31 10:00:00+00');
    await writer.flushDirty();
    const ny = 'Wed Jan 31 05:00:00 2024 EST';
    const [raw] = await drizzle(pool).select().from(table).where(eq(table.id, 'a'));
    expect(raw?.at, 'Postgres').toBe(ny);
    const fromL1 = await writer.findWithStatus(schema, 'a');
    expect([fromL1.status.tier, fromL1.row?.at], 'L1').toEqual(['l1', ny]);
    const fromL2 = await l2Alone.findWithStatus(l2Schema, 'a');
    expect([fromL2.status.tier, fromL2.row?.at], 'L2 alone').toEqual(['l2', ny]);
  } finally {
    await l2Alone.close();
    await writer.close();
  }
});
