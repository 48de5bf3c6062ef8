import { defineSchema } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterEach, describe, expect, it } from 'vitest';
import { GENERATION_ERA, hardMoveRig } from '../support/hard-move.js';
import { scratchApp } from '../support/scratch-app.js';

// After a HARD generation move (see probe-hard-move-pending.test.ts) A's acknowledged, unflushed
// write-behind write of a key is an orphaned pending row. A WRITE-THROUGH set that leaves columns
// out, by an instance of the same app running the schema write-through (a rolling deploy), merges
// over the key's queued write-behind writes read in RESERVE_THROUGH (engine/through-partial.ts),
// with no era or version rule there. Does it lay A's older columns over a newer commit L2 missed?
// It does not, and this pins why: every write of the app newer than A's takes its version from the
// app's counter, and the script that hands it out (RESERVE for B's transaction) marks A's queued
// write superseded in the pending index (`#{row key}`), in Redis, before Postgres commits, so L2
// missing the commit (the cut comes after it) cannot lose the mark. The partial set then reads A's
// write as carried, applies it at its own version first (Postgres refuses it: older) and carries
// none of its columns. Where no newer write marked it, A's write is the newest: merging over it is
// what its flush leaves. (A write the app's counter did not order is another app's: refused while
// this app holds the table, see docs/semantics.md "One writer per table".)

const cols = { id: text('id').primaryKey(), a: integer('a'), b: integer('b') };
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

describe('a hard generation move, then a partial write-through set of the app', () => {
  const scratch = scratchApp('probe_hard_through');
  const table = pgSchema(scratch.pgName).table('items', cols);
  scratch.migrate(table);
  const stored = async (id: string) =>
    (
      await scratch.admin.query<{ a: number | null; b: number | null }>(
        `select a, b from "${scratch.pgName}".items where id = $1`,
        [id],
      )
    ).rows[0] ?? null;

  const cases = [
    ['a transaction of 1,001 other rows', 'none', { a: 1, b: 2 }],
    ['a transaction that also sets k, newer than A’s write', 'set', { a: 3, b: 2 }],
    ['a transaction that also deletes k, newer than A’s write', 'delete', { a: null, b: 2 }],
  ] as const;
  it.each([
    ...cases.map(([what, ofK, expected]) => [what, 'set', ofK, expected] as const),
    ...cases.map(([what, ofK, expected]) => [what, 'tx', ofK, expected] as const),
  ] as const)(
    'B misses %s; a write-through instance sets b alone (%s): every tier and the flush keep the newest a',
    async (_what, via, ofK, expected) => {
      const schema = defineSchema({ name: 'items', table, writeMode: 'write-behind', l1: false });
      const through = defineSchema({ name: 'items', table, writeMode: 'write-through', l1: false });
      const keyPrefix = `${scratch.name}_${ofK}_${via}`;
      const rig = await hardMoveRig(scratch, schema, keyPrefix, closers);
      const { a, b } = rig;
      const k = `k-${ofK}-${via}`;
      // Postgres: {a: 0, b: 0}; A's acknowledged write {a: 1, b: 1} is pending.
      await a.set(schema, { id: k, a: 0, b: 0 });
      await a.flushDirty();
      await a.set(schema, { id: k, a: 1, b: 1 });

      await rig.missed({
        tx: (tx) => {
          for (let i = 0; i <= 1_000; i++) tx.set(schema, { id: `x${i}-${ofK}-${via}`, a: i, b: i });
          if (ofK === 'set') tx.set(schema, { id: k, a: 3, b: 3 });
          if (ofK === 'delete') tx.delete(schema, k);
        },
      });
      expect((await b.find(schema, `x0-${ofK}-${via}`))?.a).toBe(0);
      expect(await rig.generation(), 'the move was hard').toBeGreaterThanOrEqual(GENERATION_ERA);

      // Why: A's queued write is marked superseded (above its own version) exactly where a newer
      // write of the app was reserved, whatever L2 missed afterwards.
      const [index] = await scratch.raw.keys(`${keyPrefix}:*:pending`);
      const rowKey = `${index!.slice(0, -':pending'.length)}:r:${k}`;
      const entry = await scratch.raw.hget(index!, rowKey);
      const mark = await scratch.raw.hget(index!, `#${rowKey}`);
      const queuedAt = Number(entry?.split(';')[0]);
      expect({ queued: queuedAt > 0, marked: mark !== null && Number(mark) > queuedAt }).toEqual({
        queued: true,
        marked: ofK !== 'none',
      });

      // The write-through instance (a new one of the app) sets b alone, then every instance reads k.
      const t = scratch.strata({ keyPrefix, schemas: [through] });
      if (via === 'set') await t.set(through, { id: k, b: 2 });
      else await t.tx().set(through, { id: k, b: 2 }).commit();
      const committed = await stored(k);
      rig.clock.ahead = 6_000;
      const fresh = rig.fresh();
      const seen = [];
      for (const [s, as] of [
        [t, through],
        [b, schema],
        [fresh, schema],
        [a, schema],
      ] as const) {
        const row = await s.find(as, k);
        seen.push(row && { a: row.a, b: row.b });
      }
      await a.flushDirty();
      expect(
        { committed, seen, flushed: await stored(k) },
        "the partial set keeps A's a unless the transaction's write of k is newer; so does A's flush",
      ).toEqual({ committed: expected, seen: [expected, expected, expected, expected], flushed: expected });
    },
  );
});
