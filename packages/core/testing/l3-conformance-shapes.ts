import { sql } from 'drizzle-orm';
import { integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { defineSchema } from '../src/schema/define-schema.js';
import { type L3Suite, readRows, set, writeOne, writesTo } from './l3-conformance-suite.js';

const CREATED = new Date('2022-02-22T02:22:22.222Z');

/** A table with every way a column can fill itself: SQL defaults, a JS default, identity, generated, autoNowAdd. */
function shapesModel(schemaName: string) {
  return defineSchema({
    table: pgSchema(schemaName).table('shapes', {
      id: text('id').primaryKey(),
      name: text('name').notNull(),
      note: text('note').default('dflt'),
      n: integer('n').notNull().default(7),
      upper: text('upper').default(sql`upper('sql')`),
      token: text('token').$defaultFn(() => 'from-js'),
      seq: integer('seq').generatedAlwaysAsIdentity(),
      twice: integer('twice').generatedAlwaysAs(sql`"n" * 2`),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    }),
    fields: { createdAt: { autoNowAdd: true } },
  });
}

/** Rows of different shapes in one call: each keeps the defaults, or the stored values, of what it leaves out. */
export function registerShapeTests(suite: L3Suite): void {
  const l3 = () => suite.l3();
  const shapes = shapesModel(suite.schemaName);

  describe('rows of different shapes', () => {
    beforeAll(async () => {
      await l3().migrate([shapes]);
    });

    it('a new row gets the SQL default of each column it leaves out, whatever the other rows give', async () => {
      const mark = suite.log.length;
      const outcomes = await writeOne(
        l3(),
        shapes,
        set({ id: 's1', name: 'S1' }),
        set({ id: 's2', name: 'S2', note: 'given', createdAt: CREATED }),
        set({ id: 's3', name: 'S3', n: 3, note: null, upper: 'mine', token: 'mine' }),
        set({ id: 's4', name: 'S4' }),
      );
      // Three shapes: three INSERTs (one transaction), each naming only the columns its rows give.
      expect(writesTo(suite, mark, 'insert into', 'shapes')).toHaveLength(3);
      const rows = outcomes.map((o) => o.row!);
      expect(rows.map((r) => [r.id, r.note, r.n, r.upper, r.token, r.twice])).toEqual([
        ['s1', 'dflt', 7, 'SQL', 'from-js', 14],
        ['s2', 'given', 7, 'SQL', 'from-js', 14],
        ['s3', null, 3, 'mine', 'mine', 6],
        ['s4', 'dflt', 7, 'SQL', 'from-js', 14],
      ]);
      expect(rows[1]?.createdAt).toEqual(CREATED);
      expect(rows[0]?.createdAt).toBeInstanceOf(Date);
      expect(new Set(rows.map((r) => r.seq)).size).toBe(4);
      expect(rows.every((r) => typeof r.seq === 'number')).toBe(true);
      expect(await readRows(l3(), shapes, ['s1', 's2', 's3', 's4'])).toEqual(rows);
    });

    it('on conflict a row keeps the stored value of each column it leaves out, and its insert-only column', async () => {
      const before = await readRows(l3(), shapes, ['s2', 's3']);
      const outcomes = await writeOne(
        l3(),
        shapes,
        set({ id: 's2', name: 'S2b', createdAt: new Date('2030-01-01T00:00:00Z') }),
        set({ id: 's3', name: 'S3b', note: 'new' }),
        set({ id: 's5', name: 'S5', n: 1 }),
      );
      expect(outcomes.map((o) => o.version)).toEqual([2, 2, 1]);
      const [s2, s3, s5] = outcomes.map((o) => o.row!);
      expect(s2).toEqual({ ...before[0], name: 'S2b', createdAt: CREATED });
      expect(s3).toMatchObject({ id: 's3', name: 'S3b', note: 'new', n: 3, upper: 'mine', twice: 6 });
      expect(s3?.seq).toBe(before[1]?.seq);
      expect(s5).toMatchObject({ note: 'dflt', n: 1, twice: 2 });
    });

    it('generated and identity columns a row gives are left to Postgres', async () => {
      const [outcome] = await writeOne(
        l3(),
        shapes,
        set({ id: 's6', name: 'S6', n: 4, seq: 999_999, twice: 1 }),
      );
      expect(outcome?.row).toMatchObject({ id: 's6', n: 4, twice: 8 });
      expect(outcome?.row?.seq).not.toBe(999_999);
      const [again] = await writeOne(l3(), shapes, set({ id: 's6', name: 'S6', n: 5, seq: 1, twice: 1 }));
      expect(again?.row).toMatchObject({ n: 5, twice: 10, seq: outcome?.row?.seq });
    });
  });
}
