import { defineSchema, Q, type Strata } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterEach, describe, expect, it } from 'vitest';
import { GENERATION_ERA, hardMoveRig } from '../support/hard-move.js';
import { scratchApp } from '../support/scratch-app.js';

// After a HARD generation move (see probe-hard-move-pending.test.ts) A's acknowledged, unflushed
// write-behind write of a key is an orphaned pending row: a full-row read answers it only where it
// is newer than the version Postgres holds (engine/orphaned-pending.ts). Two more readers of it:
// (b) a search that selects some fields only, and (c) a write-behind PARTIAL set, which merges the
// columns it sends over the key's current row. Each must see the key as the flush will leave it: A's
// write, unless the transaction L2 missed wrote the key after it. Each instance (B at once, a new
// one, A past its generation refresh) reads and partially writes a key of its own.

const cols = { id: text('id').primaryKey(), a: integer('a'), b: integer('b') };
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

describe('a hard generation move, then partial reads and partial write-behind sets', () => {
  const scratch = scratchApp('probe_hard_partial');
  const table = pgSchema(scratch.pgName).table('items', cols);
  scratch.migrate(table);
  const stored = async (id: string) =>
    (
      await scratch.admin.query<{ a: number; b: number }>(
        `select a, b from "${scratch.pgName}".items where id = $1`,
        [id],
      )
    ).rows[0];

  const cases = [
    ['a transaction of 1,001 other rows', 'none', { a: 1, b: 2 }],
    ['a transaction that also sets each key, newer than A’s write', 'set', { a: 3, b: 2 }],
    ['a transaction that also deletes each key, newer than A’s write', 'delete', { a: null, b: 2 }],
  ] as const;
  it.each([
    ...cases.map(([what, ofK, expected]) => [what, 'set', ofK, expected] as const),
    ...cases.map(([what, ofK, expected]) => [what, 'tx', ofK, expected] as const),
  ] as const)(
    'B misses %s; a search of some fields and a partial %s see the key as the flush will leave it',
    async (_what, via, ofK, expected) => {
      const schema = defineSchema({ name: 'items', table, writeMode: 'write-behind', l1: false });
      const keyPrefix = `${scratch.name}_${ofK}_${via}`;
      const rig = await hardMoveRig(scratch, schema, keyPrefix, closers);
      const { a, b } = rig;
      const keys = ['b', 'fresh', 'a'].map((who) => `k-${who}-${ofK}`);
      // Postgres: {a: 0, b: 0}; A's acknowledged write {a: 1, b: 1} is pending.
      for (const id of keys) await a.set(schema, { id, a: 0, b: 0 });
      await a.flushDirty();
      for (const id of keys) await a.set(schema, { id, a: 1, b: 1 });

      await rig.missed({
        tx: (tx) => {
          for (let i = 0; i <= 1_000; i++) tx.set(schema, { id: `x${i}-${ofK}`, a: i, b: i });
          if (ofK === 'set') for (const id of keys) tx.set(schema, { id, a: 3, b: 3 });
          if (ofK === 'delete') for (const id of keys) tx.delete(schema, id);
        },
      });
      const ofPostgres = { none: 0, set: 3, delete: undefined }[ofK];
      const moved = await b.find(schema, `x0-${ofK}`);
      expect(moved?.a).toBe(0);
      expect(await rig.generation(), 'the move was hard').toBeGreaterThanOrEqual(GENERATION_ERA);
      const fresh = rig.fresh();
      const heldBy = async (s: Strata, id: string, i: number) => {
        if (s === a) rig.clock.ahead = 6_000;
        const query = Q().where('id = $1', id).fields('a').build();
        const reads = {
          search: (await s.search(schema, query)).map((r) => r.a),
          searchCached: (await s.searchCached(schema, query)).map((r) => r.a),
        };
        // (c) a partial set of b alone, merged over the key's current row.
        if (via === 'set') await s.set(schema, { id, b: 2 });
        else await s.tx().set(schema, { id, b: 2 }).commit();
        const after = (await s.find(schema, id)) ?? null;
        return { i, reads, after: after && { a: after.a, b: after.b } };
      };
      const seen = [];
      for (const [i, s] of [b, fresh, a].entries()) seen.push(await heldBy(s, keys[i]!, i));
      // A transaction commits to Postgres at once; a write-behind set waits for the flush.
      const before = via === 'set' ? (await stored(keys[0]!))?.a : ofPostgres;
      await a.flushDirty();
      const flushed = await Promise.all(keys.map(stored));
      const a1 = { none: [1], set: [3], delete: [] }[ofK];
      expect(
        { seen, before, flushed },
        "each reads A's write of a (unless the transaction's is newer), the partial set keeps it, and so does the flush",
      ).toEqual({
        seen: keys.map((_, i) => ({ i, reads: { search: a1, searchCached: a1 }, after: expected })),
        before: ofPostgres,
        flushed: keys.map(() => expected),
      });
    },
  );
});
