import { defineSchema } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterEach, describe, expect, it } from 'vitest';
import { GENERATION_ERA, hardMoveRig } from '../support/hard-move.js';
import { scratchApp } from '../support/scratch-app.js';

// Does a HARD generation move (a committed write L2 missed that cannot be sent again: more than
// 1,000 rows, or a drop, which keeps nothing to send) hide another instance's acknowledged,
// unflushed write-behind write? The move starts a new era (GENERATION_ERA), which orphans pending
// rows too (envelope.ts `isCurrent`), and after a missed write no writer puts its rows back (that
// happens after a Redis reset only: `restoreOwnPending`). A sets k (pending: Postgres has the older
// row); B, whose link alone to Redis is cut, commits a write L2 misses; the link comes back and B's
// next use moves the generation hard. Before any flush, B (at once), a new instance, and A (past
// its 5 s generation refresh; no L1 anywhere) read k: each must read A's acknowledged write.

const cols = { id: text('id').primaryKey(), n: integer('n').notNull() };
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

describe("a hard generation move and other instances' pending write-behind rows", () => {
  const scratch = scratchApp('probe_hard_move');
  const { pgName, name } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  scratch.migrate(table);

  it.each([
    ['a transaction of 1,001 other rows (past the rows kept to send again)', 'tx', 'none', 2],
    ['a transaction that also sets k, newer than A’s write', 'tx', 'set', 3],
    ['a transaction that also deletes k, newer than A’s write', 'tx', 'delete', null],
    ['an invalidate (a drop keeps nothing to send again)', 'invalidate', 'none', 2],
  ] as const)(
    'B misses %s: every instance reads k as the flush will leave it',
    async (_what, how, ofK, expected) => {
      const schema = defineSchema({ name: 'items', table, writeMode: 'write-behind', l1: false });
      const rig = await hardMoveRig(scratch, schema, `${name}_${how}_${ofK}`, closers);
      const { a, b } = rig;
      // k: Postgres has n = 1, A's acknowledged write n = 2 is pending. `added`: A's pending insert.
      const [k, added] = [`k-${how}-${ofK}`, `added-${how}-${ofK}`];
      await a.set(schema, { id: k, n: 1 });
      await a.flushDirty();
      await a.set(schema, { id: k, n: 2 });
      await a.set(schema, { id: added, n: 7 });
      expect(await scratch.n(k), 'Postgres still has the older row').toBe(1);
      for (const s of [a, b]) expect((await s.get(schema, k)).n).toBe(2);

      await rig.missed(
        how === 'tx'
          ? {
              tx: (tx) => {
                for (let i = 0; i <= 1_000; i++) tx.set(schema, { id: `x${i}-${ofK}`, n: i });
                if (ofK === 'set') tx.set(schema, { id: k, n: 3 });
                if (ofK === 'delete') tx.delete(schema, k);
              },
            }
          : { invalidate: 'other' },
      );
      if (how === 'tx') expect(await scratch.n(`x1000-${ofK}`)).toBe(1_000);

      // B's next use moves the generation hard (a new era), then reads k.
      const fromB = [await b.find(schema, k), await b.find(schema, added)];
      expect(await rig.generation(), 'the move was hard').toBeGreaterThanOrEqual(GENERATION_ERA);
      expect(await scratch.n(k), 'nothing flushed meanwhile').toBe(
        ofK === 'none' ? 1 : ofK === 'set' ? 3 : undefined,
      );
      const fresh = rig.fresh();
      const fromNew = [await fresh.find(schema, k), await fresh.find(schema, added)];
      rig.clock.ahead = 6_000;
      const fromA = [await a.find(schema, k), await a.find(schema, added)];
      const seen = (rows: ({ n: number } | null)[]) => rows.map((r) => r?.n ?? null);
      expect(
        { b: seen(fromB), new: seen(fromNew), a: seen(fromA) },
        "every instance reads A's acknowledged writes, unless a newer commit L2 missed replaced them",
      ).toEqual({ b: [expected, 7], new: [expected, 7], a: [expected, 7] });
      // The flush leaves Postgres so (A's write of k refused where the transaction's was newer).
      await a.flushDirty();
      expect(await scratch.n(k)).toBe(expected ?? undefined);
      expect(await scratch.n(added)).toBe(7);
      expect((await fresh.find(schema, k))?.n ?? null).toBe(expected);
    },
  );
});
