import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { createDrizzleL3, defineSchema } from '../src/index.js';

const name = uniqueName('scratch');
const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl });
const log: string[] = [];
const db = drizzle(pool, { logger: { logQuery: (q) => void log.push(q) } });
const t = pgSchema(name).table('items', {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
  note: text('note').default('dflt'),
  at: timestamp('at', { withTimezone: true }).defaultNow(),
});
const s = defineSchema({ table: t, fields: { at: { autoNowAdd: true } } });
const l3 = createDrizzleL3(db, { migrationsSchema: name });
afterAll(async () => {
  await db.execute(sql.raw(`drop schema "${name}" cascade`));
  await pool.end();
});

it('writes with versions', async () => {
  await l3.migrate([s]);
  const r1 = await l3.write([{ schema: s, writes: [{ row: { id: 'a', n: 1 } }, { row: { id: 'b', n: 2, note: 'x' } }] }]);
  console.log(JSON.stringify(r1));
  const r2 = await l3.write([{ schema: s, writes: [{ row: { id: 'a', n: 3 } }] }]);
  console.log(JSON.stringify(r2), log.at(-1));
  const r3 = await l3.write([{ schema: s, writes: [{ id: 'a' }, { id: 'zz' }] }]);
  console.log(JSON.stringify(r3));
  const r4 = await l3.write([{ schema: s, writes: [{ row: { id: 'c', n: 5 }, version: 100 }, { id: 'b', version: 100 }] }]);
  console.log(JSON.stringify(r4));
  const r5 = await l3.write([{ schema: s, writes: [{ row: { id: 'c', n: 4 }, version: 99 }] }]);
  console.log(JSON.stringify(r5));
  console.log(JSON.stringify(await l3.findMany(s, ['a', 'b', 'c'])));
  console.log(JSON.stringify(await l3.search(s, { limit: 10, offset: 0, where: sql`n > 1` })));
  console.log(await l3.nextEpoch(s), await l3.nextEpoch(s));
  expect(r2[0]![0]!.version).toBe(2);
});
