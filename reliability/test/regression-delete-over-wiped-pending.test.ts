import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { createMemoryQueue, defineSchema } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';

// Found by model-merge-refused.test.ts (seed 123456789, run 7, one shape; minimised by hand): A
// queues `c` of a key Postgres has a row of; Redis loses its data (A's memory queue keeps the
// write); B's transaction deletes the key and is held at Postgres, its version reserved in the new
// epoch; A then sets `a`. A put its unflushed write back into L2 after the reset (own-pending.ts)
// with its whole L2 row as the index's sent fold, and unmarked: B's reservation had found no entry
// to mark. So A's set carried `c` and the row's other columns, read from Postgres, over its own,
// and its flush (a version above the delete's) brought the deleted row back:
// Postgres held {"a":8,"b":"b2","c":3}; allowed {"a":8,"b":null,"c":null} | null.

const cols = { id: text('id').primaryKey(), a: integer('a'), b: text('b'), c: integer('c') };

describe('a partial set over a write put back after a Redis reset, while a delete of its key is held', () => {
  const scratch = scratchApp('model_wipe_del');
  const { pgName, db, admin, redisUrl, name, wipe } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table);
  const row = async (id: string) =>
    (await admin.query(`select id, a, b, c from "${pgName}".items where id = $1`, [id])).rows[0] ?? null;

  it("carries neither the put-back write's columns nor Postgres' over the delete", async () => {
    const config = () => ({
      schemas: [behind],
      writeBehind: { queue: createMemoryQueue() },
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const a = scratch.strata(config());
    const b = scratch.strata({ ...config(), l3: held.l3 });
    await b.tx().set(behind, { id: 'k', a: 2, b: 'b2', c: 2 }).commit();
    await a.set(behind, { id: 'k', c: 3 });
    await wipe(); // Redis restarted empty: A's queue (in memory) still holds `c`
    held.holdNext();
    const tx = b.tx().delete(behind, 'k').commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await a.set(behind, { id: 'k', a: 8 });
    held.open();
    await tx;
    await a.flushDirty();
    await b.flushDirty();
    const allowed = [
      { id: 'k', a: 8, b: null, c: null }, // the delete, then the set
      null, // the set, then the delete
    ];
    const stored = await row('k');
    expect(allowed).toContainEqual(stored);
    const expected = stored && { ...stored };
    await expect.poll(() => a.find(behind, 'k'), { timeout: 5_000 }).toEqual(expected);
    await expect.poll(() => b.find(behind, 'k'), { timeout: 5_000 }).toEqual(expected);
  });
});
