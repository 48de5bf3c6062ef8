import { sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { L3Tier, Write } from '../src/l3/types.js';
import { defineSchema } from '../src/schema/define-schema.js';
import { MALICIOUS } from './l3-conformance-model.js';
import { type L3Suite, loggedSince, writeOne } from './l3-conformance-suite.js';

/** The table of the mergeRefused tests, in `schemaName`: `name` goes with every (partial) row. */
function mergeModel(schemaName: string) {
  return defineSchema({
    table: pgSchema(schemaName).table('m_items', {
      id: text('id').primaryKey(),
      name: text('name').notNull(),
      note: text('note'),
      n: integer('n'),
    }),
  });
}

/**
 * `L3Tier.mergeRefused` (optional: skipped where the L3 has none): a Redis-ordered set `write`
 * refused as older applies the columns it set that no write of a higher version set since
 * (`_strata_versions.cols`), leaving the key's version as it is; a later whole row or delete leaves
 * it nothing; a second merge of the same write changes nothing. The engine calls it for refused
 * flushes and for the sets a transaction's statement skipped (engine/merge-refused.ts).
 */
export function registerMergeRefusedTests(suite: L3Suite): void {
  const l3 = () => suite.l3();
  const items = mergeModel(suite.schemaName);
  const row = (id: string, more: { note?: string | null; n?: number }) => ({ id, name: id, ...more });
  const write = (...writes: Write[]) => writeOne(l3(), items, ...writes);
  const merge = async (...writes: Write[]) =>
    (await (l3() as Required<L3Tier>).mergeRefused([{ schema: items, writes }]))[0]!;
  const stored = async (id: string) => {
    const [found] = await l3().findMany(items, [id]);
    return found && { note: found.row.note, n: found.row.n, version: found.version };
  };

  describe('mergeRefused', () => {
    beforeAll(async () => {
      await l3().migrate([items]);
    });

    it('applies the columns no later write set, once, at the key version it found', async (ctx) => {
      if (!l3().mergeRefused) ctx.skip();
      await write({ row: row('a', { note: 'n1', n: 1 }), version: 20 });
      await write({ row: row('a', { n: 4 }), version: 40 });
      const refused = { row: row('a', { note: 'n3', n: 3 }), version: 30 };
      expect((await write(refused))[0]!.applied).toBe(false);
      expect(await merge(refused)).toEqual([
        { applied: true, version: 40, row: { id: 'a', name: 'a', note: 'n3', n: 4 } },
      ]);
      expect(await stored('a')).toEqual({ note: 'n3', n: 4, version: 40 });
      // Again (a redelivery), an older write of the column, one whose every column was set later: nothing.
      expect((await merge(refused))[0]!.applied).toBe(false);
      expect((await merge({ row: row('a', { note: 'n2' }), version: 25 }))[0]!.applied).toBe(false);
      expect((await merge({ row: row('a', { n: 5 }), version: 35 }))[0]!.applied).toBe(false);
      expect(await stored('a')).toEqual({ note: 'n3', n: 4, version: 40 });
    });

    it('a later whole row or delete leaves it nothing; a write not refused is left alone', async (ctx) => {
      if (!l3().mergeRefused) ctx.skip();
      await write({ row: row('b', {}), version: 50, replace: true });
      expect((await merge({ row: row('b', { note: 'old' }), version: 45 }))[0]!.applied).toBe(false);
      await write({ row: row('c', { note: 'c1' }), version: 10 });
      await write({ id: 'c', version: 60 });
      expect((await merge({ row: row('c', { note: 'c0' }), version: 55 }))[0]!.applied).toBe(false);
      expect(await stored('c')).toBeUndefined();
      // Newer than the key (not refused), or a key never written: nothing.
      expect((await merge({ row: row('b', { note: 'new' }), version: 70 }))[0]!.applied).toBe(false);
      expect((await merge({ row: row('none', { note: 'x' }), version: 1 }))[0]!.applied).toBe(false);
      expect(await stored('b')).toEqual({ note: null, n: null, version: 50 });
      expect(await stored('none')).toBeUndefined();
    });

    it('merges several keys and shapes in one call, each by its own version row', async (ctx) => {
      if (!l3().mergeRefused) ctx.skip();
      await write(...['e', 'f', 'g'].map((id) => ({ row: row(id, { n: 9 }), version: 90 })));
      const outcomes = await merge(
        { row: row('e', { note: 'e', n: 1 }), version: 85 },
        { row: row('f', { note: 'f', n: 1 }), version: 95 },
        { row: row('g', { note: 'g' }), version: 85 },
      );
      expect(outcomes.map((o) => [o.applied, o.version])).toEqual([
        [true, 90],
        [false, 95],
        [true, 90],
      ]);
      expect(await stored('e')).toEqual({ note: 'e', n: 9, version: 90 });
      expect(await stored('f')).toEqual({ note: null, n: 9, version: 90 });
      expect(await stored('g')).toEqual({ note: 'g', n: 9, version: 90 });
    });

    it('a Postgres-ordered partial set after it (a reserved floor) keeps its columns: set later', async (ctx) => {
      if (!l3().mergeRefused) ctx.skip();
      await write({ row: row('p', { note: 'p1', n: 1 }), version: 10 });
      // A write-through partial set that reserved 20: stored at greatest(stored + 1, 20).
      expect((await write({ row: row('p', { n: 2 }), floor: 20 }))[0]).toMatchObject({
        applied: true,
        version: 20,
      });
      const refused = { row: row('p', { note: 'p0', n: 0 }), version: 15 };
      expect((await write(refused))[0]!.applied).toBe(false);
      expect((await merge(refused))[0]).toMatchObject({ applied: true, version: 20 });
      expect(await stored('p')).toEqual({ note: 'p0', n: 2, version: 20 });
    });

    it('over a row written outside Strata: the columns it left out were set before any version', async (ctx) => {
      const db = suite.db();
      if (!l3().mergeRefused || !db) ctx.skip();
      await db!.execute(
        sql.raw(`insert into "${suite.schemaName}".m_items (id, name, note) values ('d', 'd', 'raw')`),
      );
      await write({ row: row('d', { n: 8 }), version: 80 });
      expect((await merge({ row: row('d', { note: 'old', n: 7 }), version: 70 }))[0]!.applied).toBe(true);
      expect(await stored('d')).toEqual({ note: 'old', n: 8, version: 80 });
    });

    it("a fold's columns are recorded at their own versions (setAt): a delete between them resets them", async (ctx) => {
      if (!l3().mergeRefused) ctx.skip();
      // A whole row at 10 and a partial set at 30, folded: note was last set at 10. Alone (one
      // statement), with another key (one statement, two rows), and with another shape (a transaction).
      const fold = (id: string) => ({
        row: row(id, { note: 'n1', n: 7 }),
        version: 30,
        since: 10,
        setAt: { note: 10 },
      });
      await write(fold('s1'));
      await write(fold('s2'), fold('s3'));
      await write(fold('s4'), { row: row('s5', { note: 'x' }), version: 30 });
      for (const id of ['s1', 's2', 's3', 's4']) {
        expect((await merge({ id, version: 20 }))[0]!.applied).toBe(true);
        expect(await stored(id)).toEqual({ note: null, n: 7, version: 30 });
      }
      // Sets after a delete (a replace): the columns they leave out were reset at the delete's version.
      await write({ row: row('r', { note: 'r0', n: 0 }), version: 5 });
      await write({ row: row('r', { n: 7 }), version: 30, since: 10, replace: true, setAt: { '': 10 } });
      expect((await merge({ row: row('r', { note: 'r2', n: 2 }), version: 20 }))[0]!.applied).toBe(true);
      expect(await stored('r')).toEqual({ note: 'r2', n: 7, version: 30 });
    });

    it('values travel as parameters: a hostile value is stored as it is', async (ctx) => {
      if (!l3().mergeRefused) ctx.skip();
      await write({ row: row('h', { n: 1 }), version: 101 });
      const mark = suite.log.length;
      expect((await merge({ row: row('h', { note: MALICIOUS }), version: 100 }))[0]!.applied).toBe(true);
      expect(await stored('h')).toEqual({ note: MALICIOUS, n: 1, version: 101 });
      const sent = loggedSince(suite, mark);
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.every((s) => !s.query.includes(MALICIOUS))).toBe(true);
    });
  });
}
