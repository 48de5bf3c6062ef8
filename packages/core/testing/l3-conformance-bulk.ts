import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../src/l3/types.js';
import { defineSchema } from '../src/schema/define-schema.js';
import { bytea, type Model } from './l3-conformance-model.js';
import {
  type L3Suite,
  loggedSince,
  otherL3,
  readRows,
  rejection,
  rowsOf,
  set,
  writeOne,
  writesTo,
} from './l3-conformance-suite.js';

const bulkRows = (from: number, count: number, tag = 'a'): Row[] =>
  Array.from({ length: count }, (_, i) => ({
    id: from + i,
    a: `${tag}${from + i}`,
    b: i * 2,
    c: i / 3,
    d: i % 2 === 0,
  }));

/** Big calls: one jsonb_to_recordset statement past the parameter limit, VALUES parts under it, scan. */
export function registerBulkTests(suite: L3Suite, m: Model): void {
  const l3 = () => suite.l3();
  // Bytes cannot travel in a JSON recordset: rows with them go as VALUES parts.
  const blobs = defineSchema({
    table: pgSchema(suite.schemaName).table('blobs', {
      id: integer('id').primaryKey(),
      a: text('a').notNull(),
      data: bytea('data'),
    }),
  });
  const blobRows = (count: number): Row[] =>
    Array.from({ length: count }, (_, i) => ({
      id: i,
      a: `'; drop table blobs; -- ${i}`,
      data: Uint8Array.of(i, 0, 255),
    }));

  describe('bulk writes', () => {
    beforeAll(async () => {
      await l3().migrate([blobs]);
    });

    it('writes 20,000 rows past the parameter limit as ONE statement (a jsonb recordset), stored as given', {
      timeout: 120_000,
    }, async () => {
      const rows = bulkRows(0, 20_000);
      const mark = suite.log.length;
      const outcomes = await writeOne(l3(), m.bulk, ...rows.map((row) => set(row)));
      // 5 columns × 20,000 rows: 100,000 cells, past 65,535 parameters; the versions and the rows
      // travel as one recordset parameter in one statement.
      const statements = loggedSince(suite, mark);
      expect(statements).toHaveLength(1);
      expect(writesTo(suite, mark, 'insert into', 'bulk')).toHaveLength(1);
      expect(statements[0]?.query).toContain('jsonb_to_recordset');
      // A few, none per row: the recordset, the schema's identity, the catalog check's names.
      expect(statements[0]?.params.length).toBeLessThan(10);
      expect(outcomes.every((o) => o.applied && o.version === 1)).toBe(true);
      expect(rowsOf(outcomes.map((o) => ({ row: o.row!, version: o.version })))).toEqual(rows);
      const read = await l3().findMany(
        m.bulk,
        rows.map((r) => r.id),
      );
      expect(rowsOf(read)).toEqual(rows);
      expect(read.every((r) => r.version === 1)).toBe(true);
    });

    it('under a small maxParameters, bytes go as VALUES parts in one transaction, every statement under the limit', async (ctx) => {
      const small = otherL3(suite, { maxParameters: 64 });
      if (!small) return ctx.skip();
      const rows = blobRows(100);
      const mark = suite.log.length;
      const outcomes = await writeOne(small, blobs, ...rows.map((row) => set(row)));
      // 3 cells a row: 20 rows per part (63 parameters at most). Versions: 4 parameters a key, 15 per statement.
      expect(writesTo(suite, mark, 'insert into', 'blobs')).toHaveLength(Math.ceil(100 / 20));
      expect(writesTo(suite, mark, 'insert into', '_strata_versions')).toHaveLength(Math.ceil(100 / 15));
      for (const statement of loggedSince(suite, mark))
        expect(statement.params.length).toBeLessThanOrEqual(64);
      expect(loggedSince(suite, mark).some((s) => s.query.includes('jsonb_to_recordset'))).toBe(false);
      expect(outcomes.map((o) => o.version)).toEqual(rows.map(() => 1));
      expect(outcomes.map((o) => o.row)).toEqual(rows);
      expect(await readRows(small, blobs, [0, 57, 99])).toEqual([rows[0], rows[57], rows[99]]);
    });

    it('under a small maxParameters, uniform scalar rows still go as one recordset statement', async (ctx) => {
      const small = otherL3(suite, { maxParameters: 64 });
      if (!small) return ctx.skip();
      const rows = bulkRows(50_000, 300, 'r');
      const mark = suite.log.length;
      const outcomes = await writeOne(small, m.bulk, ...rows.map((row) => set(row)));
      expect(loggedSince(suite, mark)).toHaveLength(1);
      expect(loggedSince(suite, mark)[0]?.query).toContain('jsonb_to_recordset');
      expect(outcomes.map((o) => o.row)).toEqual(rows);
      await writeOne(l3(), m.bulk, ...rows.map((r) => ({ id: r.id })));
      expect(await l3().count(m.bulk)).toBe(20_000);
    });

    it('a failing part leaves no row and no version of the call, and the error keeps its SQLSTATE (23502)', async (ctx) => {
      const small = otherL3(suite, { maxParameters: 64 });
      if (!small) return ctx.skip();
      const rows: Row[] = blobRows(100).map((r) => ({ ...r, id: 1_000 + Number(r.id) }));
      rows[99] = { id: 1_099, a: null };
      const error = await rejection(writeOne(small, blobs, ...rows.map((row) => set(row))));
      expect(error.code).toBe('23502');
      expect(await l3().findMany(blobs, [1_000, 1_050, 1_098, 1_099])).toEqual([]);
      // No version was kept either: the fixed retry writes version 1.
      rows[99] = { id: 1_099, a: 'fixed' };
      const outcomes = await writeOne(small, blobs, ...rows.map((row) => set(row)));
      expect(outcomes.map((o) => o.version)).toEqual(rows.map(() => 1));
    });

    it('a failing single statement (20,000 rows, one recordset) leaves nothing either', {
      timeout: 120_000,
    }, async () => {
      const rows = bulkRows(20_000, 20_000);
      rows[rows.length - 1] = { ...rows.at(-1), a: null };
      expect((await rejection(writeOne(l3(), m.bulk, ...rows.map((row) => set(row))))).code).toBe('23502');
      expect(await l3().findMany(m.bulk, [20_000, 25_000, 39_998, 39_999])).toEqual([]);
      expect(await l3().count(m.bulk)).toBe(20_000);
    });

    it('scan pages through every row once in primary-key order, with versions', {
      timeout: 60_000,
    }, async () => {
      const seen: number[] = [];
      let after: unknown;
      for (let page = 0; page < 10; page++) {
        const rows = await l3().scan(m.bulk, { limit: 7_000, ...(after !== undefined && { after }) });
        if (rows.length === 0) break;
        seen.push(...rows.map((r) => Number(r.row.id)));
        after = rows.at(-1)?.row.id;
      }
      expect(seen).toEqual(Array.from({ length: 20_000 }, (_, i) => i));
      expect(await l3().scan(m.bulk, { after: 19_990, limit: 3 })).toEqual(
        bulkRows(0, 20_000)
          .slice(19_991, 19_994)
          .map((row) => ({ row, version: 1 })),
      );
    });
  });
}
