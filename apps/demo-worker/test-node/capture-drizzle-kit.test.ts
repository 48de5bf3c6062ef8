import { changeRelay, createMemoryQueue, defineSchema, Strata } from '@strata/core';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { createUpstashL2 } from '@strata/core/upstash';
import { createScratchDatabase, type ScratchDatabase } from '@strata/devstack';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, text, timestamp } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_PG_SCHEMA, demo } from '../src/db/schema.js';
import { dbPush } from './support/db-push.js';

// Issue 16's "ALTER TABLE … ADD COLUMN by drizzle-kit": the demo's players table in a database of
// this test, captured, with a column its schema file declares missing from the database (an app
// deployed before the column existed). `npm run db:push` (drizzle-kit push) adds it; the event
// trigger logs the schema change, and the relay drops what the caches held of the table.
let scratch: ScratchDatabase;
let pool: pg.Pool;
const keyPrefix = uniqueName('demo_kit');

// The players table as the running app knows it: without `updated_at`, which the schema file has.
const players = defineSchema({
  table: demo.table('players', {
    id: text('id').primaryKey(),
    username: text('username').notNull().unique(),
    level: integer('level').notNull().default(1),
    email: text('email'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  }),
  l1: { ttl: '10m' },
  l2: { ttl: '10m' },
});

beforeAll(async () => {
  scratch = await createScratchDatabase('demo_kit');
  pool = new pg.Pool({ connectionString: scratch.url });
  pool.on('error', () => {});
  const pushed = await dbPush(scratch.url);
  if (pushed.code !== 0) throw new Error(`db:push failed:\n${pushed.output}`);
  await pool.query(`alter table ${DEMO_PG_SCHEMA}.players drop column updated_at`);
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await scratch?.drop();
  const redis = new Redis(testDevstack().upstash!);
  const keys = await redis.keys(`${keyPrefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
});

it('a column drizzle-kit push adds to a captured table moves its cache generation; capture stays complete', async () => {
  const strata = new Strata({
    l2: createUpstashL2(testDevstack().upstash!),
    l3: createDrizzleL3(drizzle(pool), { migrationsSchema: DEMO_PG_SCHEMA, capture: changeCapture }),
    writeBehind: { queue: createMemoryQueue() },
    keyPrefix,
    schemas: [players],
    capture: { relay: changeRelay({ interval: '1h' }) },
  });
  try {
    await strata.migrate({ capture: true });
    expect(await strata.capture.check()).toEqual([
      expect.objectContaining({ schema: players.identity, installed: true, ddl: 'event-trigger' }),
    ]);
    await strata.relayChanges(); // the app's first read stores the cursor
    await strata.set(players, { id: 'k1', username: 'kit', level: 3 });
    expect(await strata.get(players, 'k1')).toMatchObject({ level: 3 });
    const l3Reads = strata.stats().hits.l3;

    const { code, output } = await dbPush(scratch.url);
    expect(code, output).toBe(0);
    expect(output).toMatch(/ALTER TABLE "strata_demo"\."players" ADD COLUMN "updated_at"/);
    const { rows } = await pool.query(
      `select op from ${DEMO_PG_SCHEMA}._strata_changes where schema = $1 and op = 'ddl'`,
      [players.identity],
    );
    expect(rows).toHaveLength(1);
    // drizzle-kit left Strata's triggers, functions and tables as they were.
    expect((await strata.capture.check()).every((c) => c.installed)).toBe(true);

    expect(await strata.relayChanges()).toMatchObject({ status: 'applied', gap: false });
    // The cached row went with the generation: the next read is Postgres', then cached again.
    expect(await strata.get(players, 'k1')).toMatchObject({ level: 3 });
    expect(strata.stats().hits.l3).toBe(l3Reads + 1);
    expect(strata.stats().capture.changesApplied).toBeGreaterThanOrEqual(1);
    await strata.capture.remove();
  } finally {
    await strata.close();
  }
}, 120_000);
