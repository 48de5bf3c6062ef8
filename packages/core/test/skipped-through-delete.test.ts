import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import type { L3Tier, Schema, Strata } from '../src/index.js';
import type { WriteOutcome } from '../src/l3/types.js';
import { type Deferred, deferred } from './support/deferred.js';
import { type ItemsSchema, modesFixture } from './support/modes-app.js';
import { wrapL3 } from './support/wrap.js';

// A write-through delete of an app that also writes its table write-behind reserves its version
// (its floor) from the app's counter before its statement reaches Postgres. A write-behind partial
// set of the key made after that reservation, flushed first, outruns it: Postgres skips the delete
// as older, ordered just before the set, and the delete is merged as a reset of the columns the set
// left out (docs/semantics.md, "A delete refused or skipped so"). What the caller is told, and what
// every tier holds after.

const modes = modesFixture('floor2_skipped_delete');
const unique = modesFixture('floor2_skipped_unique', (pg) =>
  pgSchema(pg).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    note: text('note'),
    code: text('code').unique().default('none'),
  }),
);

/** The fixture's L3, whose next `write` after `hold()` waits until `release()` (after `reached`). */
function heldWrites(base: L3Tier) {
  type Gate = { reached: Deferred<void>; open: Deferred<void>; outcomes: Deferred<WriteOutcome[][]> };
  let gate: Gate | undefined;
  const l3 = wrapL3(base, {
    write: async (ops) => {
      const held = gate;
      gate = undefined;
      if (!held) return base.write(ops);
      held.reached.resolve();
      await held.open.promise;
      const outcomes = await base.write(ops);
      held.outcomes.resolve(outcomes);
      return outcomes;
    },
  });
  return {
    l3,
    /** Holds the next write; `outcomes`: what Postgres made of it. */
    hold() {
      const next: Gate = { reached: deferred(), open: deferred(), outcomes: deferred() };
      gate = next;
      return { reached: next.reached.promise, release: next.open.resolve, outcomes: next.outcomes.promise };
    },
  };
}

/** Row `id` read by each reader (L1 first, then L2, then Postgres), and as Postgres holds it. */
async function everyTier(
  readers: { strata: Strata; schema: ItemsSchema | Schema }[],
  id: string,
  fixture: { rowIn(id: string): Promise<unknown> } = modes,
) {
  const found = [];
  for (const { strata, schema } of readers) found.push(await strata.find(schema as Schema, id));
  return { postgres: await fixture.rowIn(id), found };
}

describe('a write-through delete skipped as older behind a later write-behind partial set', () => {
  it('resolves that the row existed; every tier holds the set over the reset row', async () => {
    const held = heldWrites(modes.stack.l3);
    const { behind, through, instance, close } = await modes.app('ex', { l3: held.l3 });
    const wb = instance(behind);
    const wt = instance(through);
    await wb.set(behind, { id: 'd', n: 1, note: 'old' });
    await wb.flushDirty();
    expect(await wt.find(through, 'd')).toEqual({ id: 'd', n: 1, note: 'old' }); // in wt's L1 and L2
    const gate = held.hold();
    const deleting = wt.delete(through, 'd'); // its floor reserved, its statement held
    await gate.reached;
    await wb.set(behind, { id: 'd', n: 2 }); // after the reservation: note left out
    await wb.flushDirty(); // lands first
    gate.release();
    expect(await deleting).toBe(true);
    expect((await gate.outcomes)[0]![0]!.applied).toBe(false); // skipped as older
    // Ordered delete, then set: the set over a new row, note at its default (null).
    const expected = { id: 'd', n: 2, note: null };
    const tiers = await everyTier(
      [
        { strata: wt, schema: through },
        { strata: wb, schema: behind },
        { strata: instance(through), schema: through }, // a new instance: L2, then Postgres
      ],
      'd',
    );
    expect(tiers).toEqual({ postgres: expected, found: [expected, expected, expected] });
    await close();
  });

  // Ordered before the set, the delete found no row; it cannot tell (the set's statement left no trace
  // of whether a row was there before it), and says it existed, as a write-behind delete does.
  it('over a key with no row: resolves that it existed all the same; every tier holds the new row', async () => {
    const held = heldWrites(modes.stack.l3);
    const { behind, through, instance, close } = await modes.app('new', { l3: held.l3 });
    const wb = instance(behind);
    const wt = instance(through);
    await wb.set(behind, { id: 'other', n: 1 }); // the app's counter in use
    await wb.flushDirty();
    const gate = held.hold();
    const deleting = wt.delete(through, 'e');
    await gate.reached;
    await wb.set(behind, { id: 'e', n: 2 });
    await wb.flushDirty();
    gate.release();
    expect(await deleting).toBe(true);
    expect((await gate.outcomes)[0]![0]!.applied).toBe(false);
    const expected = { id: 'e', n: 2, note: null };
    const tiers = await everyTier(
      [
        { strata: wt, schema: through },
        { strata: wb, schema: behind },
        { strata: instance(through), schema: through },
      ],
      'e',
    );
    expect(tiers).toEqual({ postgres: expected, found: [expected, expected, expected] });
    await close();
  });

  // Behind a later delete: nothing to merge (the key is deleted at the later version); the key is
  // deleted, as the caller asked.
  it('behind a later write-behind delete: resolves that the row existed; no tier holds it', async () => {
    const held = heldWrites(modes.stack.l3);
    const { behind, through, instance, close } = await modes.app('dd', { l3: held.l3 });
    const wb = instance(behind);
    const wt = instance(through);
    await wb.set(behind, { id: 'g', n: 1, note: 'old' });
    await wb.flushDirty();
    expect(await wt.find(through, 'g')).toEqual({ id: 'g', n: 1, note: 'old' });
    const gate = held.hold();
    const deleting = wt.delete(through, 'g');
    await gate.reached;
    await wb.delete(behind, 'g');
    await wb.flushDirty(); // lands first
    gate.release();
    expect(await deleting).toBe(true);
    expect((await gate.outcomes)[0]![0]!.applied).toBe(false); // skipped as older
    const tiers = await everyTier(
      [
        { strata: wt, schema: through },
        { strata: wb, schema: behind },
        { strata: instance(through), schema: through },
      ],
      'g',
    );
    expect(tiers).toEqual({ postgres: undefined, found: [null, null, null] });
    await close();
  });

  // Its merge resets the columns the set left out to their defaults: a unique column's default that
  // another row holds is refused by Postgres. Before, the merge's one statement failed whole, and the
  // other delete merged with it lost its reset too (counted and logged; the deletes still resolved).
  it('a reset a unique constraint refuses: that delete keeps its columns, the other one merges', async () => {
    const held = heldWrites(unique.stack.l3);
    const { behind, through, instance, close } = await unique.app('u', { l3: held.l3 });
    const wb = instance(behind);
    const wt = instance(through);
    await wb.set(behind, { id: 'holder', n: 0 }); // code 'none', its default
    for (const id of ['q1', 'q2']) await wb.set(behind, { id, n: 1, note: 'stored', code: id });
    await wb.flushDirty();
    const gate = held.hold();
    const deleting = wt.deleteMany(through, ['q1', 'q2']);
    await gate.reached;
    await wb.set(behind, { id: 'q1', n: 2 }); // code left out: the merge resets it
    await wb.set(behind, { id: 'q2', n: 2, code: 'q2b' }); // code set later: not reset
    await wb.flushDirty();
    const errors = wt.stats().errorsBy.l3 ?? 0;
    gate.release();
    expect(await deleting).toBe(2);
    expect((await gate.outcomes)[0]!.map((o) => o.applied)).toEqual([false, false]);
    expect(wt.stats().errorsBy.l3 ?? 0).toBe(errors + 1); // the refused reset, counted
    const readers = [
      { strata: wt, schema: through },
      { strata: wb, schema: behind },
      { strata: instance(through), schema: through },
    ];
    const q1 = { id: 'q1', n: 2, note: 'stored', code: 'q1' };
    const q2 = { id: 'q2', n: 2, note: null, code: 'q2b' };
    expect(await everyTier(readers, 'q1', unique)).toEqual({ postgres: q1, found: [q1, q1, q1] });
    expect(await everyTier(readers, 'q2', unique)).toEqual({ postgres: q2, found: [q2, q2, q2] });
    await close();
  });
});
