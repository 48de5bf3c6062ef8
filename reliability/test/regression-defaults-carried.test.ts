import { Q, type Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { describe, expect, it } from 'vitest';
import { defaultsApp } from '../support/defaults-app.js';
import { heldL3 } from '../support/held-l3.js';
import { losingL3 } from '../support/wrap-l3.js';

// Follows regression-defaults-over-held-tx.test.ts: a queued write-behind new row's client defaults
// ($defaultFn, a literal default, defaultNow()) are an insert's alone, and so they stay in every
// write that carries that row's columns. Instance A's transaction sets every column of a key with no
// row, held at Postgres (its version reserved); meanwhile B sets one column (queued: a new row, its
// defaults named). A commits; then a write carrying B's queued row lands over A's row. Before, each
// of these carried the defaults as values, over the transaction's `d`, `e` and `f`:
// - a transaction's partial set over the queued row (`overQueued`, partial-rows.ts);
// - a write-through partial set of the same app over it (`overPending`, through-partial.ts);
// - the queued row laid beneath a write after a transaction whose outcome is unknown marked it
//   superseded (`QueuedWrite.under`: a write-behind set, flusher.ts `applyBeneath`; a transaction,
//   come-back.ts `applyCameBack`).
// And a search before B's flush laid the queued row's defaults over A's stored row (the pending
// overlay, drizzle/overlay.ts): it read `d`, `e` and `f` the flush never writes.

describe("a write carrying a queued new row's columns carries its defaults as defaults", () => {
  const { scratch, behind, through, row, bus, txRow } = defaultsApp('defaults_carried');
  const { pgName, db } = scratch;
  /** A's transaction, then B's set, then C's: every column but the ones B and C set is A's. */
  const expected = (id: string) => ({ ...txRow(id), b: 'set', c: 3, g: 'upd' });
  const settled = async (id: string, ...instances: [Strata, typeof behind][]) => {
    const stored = await row(id);
    expect(stored).toEqual(expected(id));
    for (const [s, schema] of instances)
      await expect.poll(() => s.find(schema, id), { timeout: 5_000 }).toEqual(stored);
  };

  /** A's transaction held at Postgres, B's set of `b` queued (a new row), then A's commit. */
  async function queuedOverHeld(id: string, b: Strata, between?: () => Promise<void>) {
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const a = scratch.strata({ schemas: [behind], l3: held.l3, coherence: bus() });
    held.holdNext();
    const tx = a.tx().set(behind, txRow(id)).commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.set(behind, { id, b: 'set' });
    await between?.();
    held.open();
    await tx;
    return a;
  }

  it.each([
    ['transaction', 'tx'],
    ['write-through set', 'through'],
  ] as const)(
    "a %s's partial set over the queued new row keeps the transaction's columns",
    async (_, how) => {
      const id = `over-queued-${how}`;
      const b = scratch.strata({ schemas: [behind], coherence: bus() });
      const a = await queuedOverHeld(id, b);
      let c: Strata;
      if (how === 'tx') {
        c = b;
        await b.tx().set(behind, { id, c: 3 }).commit();
      } else {
        c = scratch.strata({ schemas: [through], coherence: bus() });
        await c.set(through, { id, c: 3 });
      }
      await b.flushDirty();
      await a.flushDirty();
      await settled(id, [a, behind], [b, behind], [c, how === 'tx' ? behind : through]);
    },
  );

  // B's transaction of `a` fails with its outcome unknown (no SQLSTATE: a lost connection): its
  // reservation's mark stays on B's queued row, which a later partial set of B then carries beneath
  // its own (applied first, at the queued row's version, while Postgres holds the key older: A's).
  it.each([
    ['write-behind set', 'behind'],
    ['transaction', 'tx'],
  ] as const)(
    "a %s over the queued new row a lost transaction marked keeps the transaction's columns",
    async (_, how) => {
      const id = `beneath-${how}`;
      const losing = losingL3(createDrizzleL3(db, { migrationsSchema: pgName }));
      const b = scratch.strata({ schemas: [behind], l3: losing.l3, coherence: bus() });
      const a = await queuedOverHeld(id, b, async () => {
        losing.loseNext();
        await expect(b.tx().set(behind, { id, a: 9 }).commit()).rejects.toThrow();
      });
      if (how === 'tx') await b.tx().set(behind, { id, c: 3 }).commit();
      else await b.set(behind, { id, c: 3 });
      await b.flushDirty();
      await a.flushDirty();
      await settled(id, [a, behind], [b, behind]);
    },
  );

  it("a search before the flush reads the transaction's columns under the queued new row", async () => {
    const id = 'searched';
    const b = scratch.strata({ schemas: [behind], coherence: bus() });
    await queuedOverHeld(id, b);
    const query = Q().where('id = $1', id).build();
    const before = await b.search(behind, query);
    await b.flushDirty();
    const stored = await row(id);
    expect(stored).toEqual({ ...txRow(id), b: 'set', g: 'upd' });
    // What the flush wrote, read before it.
    expect(before).toEqual([stored]);
    expect(await b.search(behind, query)).toEqual([stored]);
  });

  // Over a queued delete, a partial set makes a new row whatever Postgres holds (the flush folds them
  // into a replace): its defaults are its values, read by a search as after the flush.
  it('a search before the flush reads the defaults of a set over a queued delete', async () => {
    const id = 'deleted';
    const b = scratch.strata({ schemas: [behind], coherence: bus() });
    await b.set(behind, txRow(id));
    await b.flushDirty();
    await b.delete(behind, id);
    await b.set(behind, { id, b: 'set' });
    const query = Q().where('id = $1', id).build();
    const before = await b.search(behind, query);
    await b.flushDirty();
    const stored = await row(id);
    expect(stored).toMatchObject({ id, a: null, b: 'set', c: null, d: 'fn', e: 'lit', g: 'upd' });
    expect(before).toEqual([stored]);
  });
});
