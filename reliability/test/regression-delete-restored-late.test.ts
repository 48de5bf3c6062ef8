import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { createMemoryQueue, defineSchema, type Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';

// Found by model-merge-refused.test.ts (seed 123456789, run 14, one shape; after the fixes of
// regression-delete-over-wiped-pending and regression-through-tx-under-carried), minimised by hand:
// A queues a whole row, B queues a delete of the key (a later version), Redis loses its data (the
// memory queues keep both; A forgot its write on B's message, so nothing of it comes back). A's
// partial set {a:7} (the new epoch) finds no pending row, and A's flush folds its two writes into
// one. Folded, they went as one write at the set's version: `_strata_versions.cols` recorded b and
// c, which A's first write set, at the new epoch's version, so B's delete, refused then as older,
// merged with no effect (`mergeRefused` resets only the columns no later write set). Postgres held
// {a:7, b:'b1', c:1}; the only order the acknowledgements allow is delete, then set:
// {a:7, b:null, c:null}.
// Fixed: a fold records each column at the version of the write that set it (`Write.setAt`), as
// applying its writes one by one would; whichever instance flushes first, the outcome is the same.

const cols = { id: text('id').primaryKey(), a: integer('a'), b: text('b'), c: integer('c') };

describe('a partial set over a write put back after a Redis reset, a later delete of another instance not yet put back', () => {
  const scratch = scratchApp('model_restored_late');
  const { pgName, db, admin, redisUrl, name, wipe } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table);
  const row = async (id: string) =>
    (await admin.query(`select id, a, b, c from "${pgName}".items where id = $1`, [id])).rows[0] ?? null;
  const config = () => ({
    schemas: [behind],
    writeBehind: { queue: createMemoryQueue() },
    coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
  });
  const flushIn = async (order: 'AB' | 'BA', a: Strata, b: Strata) => {
    for (const s of order === 'AB' ? [a, b] : [b, a]) await s.flushDirty();
  };

  // `stored`: Postgres held an older row of the key, so B puts its delete back after the reset too.
  describe.each([
    { stored: false, order: 'AB' },
    { stored: false, order: 'BA' },
    { stored: true, order: 'AB' },
    { stored: true, order: 'BA' },
  ] as const)('Postgres held a row: $stored, flushed $order', ({ stored, order }) => {
    it('the delete between them takes the folded columns away', async () => {
      const id = `k-${stored}-${order}`;
      const a = scratch.strata(config());
      const b = scratch.strata(config());
      if (stored) {
        await a.set(behind, { id, a: 0, b: 'b0', c: 0 });
        await a.flushDirty();
      }
      await a.set(behind, { id, a: 1, b: 'b1', c: 1 });
      await b.delete(behind, id);
      await wipe();
      await a.set(behind, { id, a: 7 });
      await flushIn(order, a, b);
      const expected = { id, a: 7, b: null, c: null };
      expect(await row(id)).toEqual(expected);
      for (const s of [a, b])
        await expect.poll(() => s.find(behind, id), { timeout: 5_000 }).toEqual(expected);
    });
  });

  it.each(['AB', 'BA'] as const)(
    "a held transaction's delete in place of the queued one (flushed %s): the folded columns go with it",
    async (order) => {
      const id = `tx-${order}`;
      const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
      const a = scratch.strata(config());
      const b = scratch.strata({ ...config(), l3: held.l3 });
      await a.set(behind, { id, a: 1, b: 'b1', c: 1 });
      held.holdNext();
      const tx = b.tx().delete(behind, id).commit(); // its version reserved before the reset
      await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
      await wipe();
      await a.set(behind, { id, a: 7 });
      if (order === 'AB') await a.flushDirty();
      held.open();
      await tx;
      await flushIn(order, a, b);
      const allowed = [
        { id, a: 7, b: null, c: null }, // the delete, then the set
        null, // the set, then the delete
      ];
      const now = await row(id);
      expect(allowed).toContainEqual(now);
      for (const s of [a, b]) await expect.poll(() => s.find(behind, id), { timeout: 5_000 }).toEqual(now);
    },
  );
});
