import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { createMemoryQueue, defineSchema } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';

// Found by model-merge-refused.test.ts (seed 70707, shapes 1, run 40; minimised by hand): A (write-
// behind) queues a whole row; C's write-through transaction sets `c` of the key and is held at
// Postgres, its floor reserved above A's version; B (write-behind) sets `b` and flushes meanwhile.
// B's set carries A's queued columns beneath its own (the floor marked them, see
// `QueuedWrite.under`), and B's flush applies them, as it must while C's outcome is unknown: Postgres
// held the key below them. But the fold goes as one write at B's version, so `_strata_versions.cols`
// records A's columns, `c` included, at B's version. C's transaction, then refused as older, merges
// only the columns no higher version set (`mergeRefused`): none. Its acknowledged `c` is lost:
// Postgres holds {a:13, b:'b17', c:13}; either order of C and B leaves c = 16.
// Fixed: the flush applies the queued columns beneath a set first, alone, at the version of the
// writes they stand for (flusher.ts, `applyBeneath`), so `cols` records them below C's floor and
// C's merge sets `c`.

const cols = { id: text('id').primaryKey(), a: integer('a'), b: text('b'), c: integer('c') };

describe('a write-behind partial set flushed over queued columns a held write-through transaction marked', () => {
  const scratch = scratchApp('model_through_carried');
  const { pgName, db, admin, redisUrl, name } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  const through = defineSchema({ name: 'items', table });
  scratch.migrate(table);
  const row = async (id: string) =>
    (await admin.query(`select id, a, b, c from "${pgName}".items where id = $1`, [id])).rows[0] ?? null;

  it("keeps the transaction's column: the carried columns are not recorded at the set's version", async () => {
    const config = () => ({
      writeBehind: { queue: createMemoryQueue() },
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const a = scratch.strata({ ...config(), schemas: [behind] });
    const b = scratch.strata({ ...config(), schemas: [behind] });
    const c = scratch.strata({ ...config(), schemas: [through], l3: held.l3 });
    await a.set(behind, { id: 'k', a: 1, b: 'b1', c: 1 });
    await a.flushDirty();
    await c.find(through, 'k'); // C knows the app's counter: its writes reserve a floor from it
    await a.set(behind, { id: 'k', a: 13, b: 'b13', c: 13 });
    held.holdNext();
    const tx = c.tx().set(through, { id: 'k', c: 16 }).commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.set(behind, { id: 'k', b: 'b17' });
    await b.flushDirty();
    held.open();
    await tx;
    await a.flushDirty();
    await b.flushDirty();
    const stored = await row('k');
    expect(stored).toEqual({ id: 'k', a: 13, b: 'b17', c: 16 }); // either order of C and B
    for (const s of [a, b]) await expect.poll(() => s.find(behind, 'k'), { timeout: 5_000 }).toEqual(stored);
    await expect.poll(() => c.find(through, 'k'), { timeout: 5_000 }).toEqual(stored);
  });
});
