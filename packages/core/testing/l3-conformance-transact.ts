import { beforeAll, describe, expect, it } from 'vitest';
import type { Row, WriteOp } from '../src/l3/types.js';
import { type L3Suite, loggedSince, rejection } from './l3-conformance-suite.js';
import type { QueryModel } from './l3-conformance-tables.js';

const CREATED = new Date('2020-05-05T05:05:05.005Z');

/** transact(): several schemas, upserts and deletes, all or nothing; chunked like upsertMany. */
export function registerTransactTests(suite: L3Suite, q: QueryModel): void {
  const l3 = () => suite.l3();
  const all = { limit: 100_000, offset: 0 };
  const snapshot = async () => ({
    accounts: await l3().search(q.accounts, all),
    ledger: await l3().search(q.ledger, all),
  });

  describe('transact', () => {
    beforeAll(async () => {
      await l3().migrate([q.accounts, q.ledger, q.wide]);
    });

    it('an empty transact, or one with empty ops, sends nothing', async () => {
      const mark = suite.log.length;
      expect(await l3().transact([])).toEqual([]);
      const empty: WriteOp = { schema: q.accounts, upserts: [], deletes: [] };
      expect(await l3().transact([empty, empty])).toEqual([
        { upserted: [], deleted: 0 },
        { upserted: [], deleted: 0 },
      ]);
      expect(suite.log.length).toBe(mark);
    });

    it('commits ops across two schemas together, with a result per op', async () => {
      const results = await l3().transact([
        {
          schema: q.accounts,
          upserts: [
            { id: 'a1', owner: 'ann', email: 'ann@x', balance: 10, createdAt: CREATED },
            { id: 'a2', owner: 'bob', email: 'bob@x' },
          ],
          deletes: [],
        },
        {
          schema: q.ledger,
          upserts: [
            { id: 1, account: 'a1', amount: 10, ref: 'r1' },
            { id: 2, account: 'a2', amount: 0, ref: 'r2' },
          ],
          deletes: [99],
        },
      ]);
      expect(results).toHaveLength(2);
      expect(results[0]?.upserted).toEqual([
        { id: 'a1', owner: 'ann', email: 'ann@x', balance: 10, createdAt: CREATED },
        { id: 'a2', owner: 'bob', email: 'bob@x', balance: 0, createdAt: expect.any(Date) },
      ]);
      expect(results[0]?.deleted).toBe(0);
      expect(results[1]).toEqual({
        upserted: [
          { id: 1, account: 'a1', amount: 10, ref: 'r1' },
          { id: 2, account: 'a2', amount: 0, ref: 'r2' },
        ],
        deleted: 0,
      });
      expect(await snapshot()).toEqual({ accounts: results[0]?.upserted, ledger: results[1]?.upserted });
    });

    it('runs an op’s upserts, then its deletes; the last write per key wins; insert-only keys stay', async () => {
      const [accounts, again] = await l3().transact([
        {
          schema: q.accounts,
          upserts: [
            { id: 'a1', owner: 'ann', balance: 11, createdAt: new Date('2030-01-01T00:00:00Z') },
            { id: 'a3', owner: 'cy', balance: 1 },
            { id: 'a4', owner: 'dee' },
            { id: 'a3', owner: 'cy', balance: 3 },
          ],
          deletes: ['a2', 'a4', 'missing'],
        },
        // The same schema again: it sees the first op's writes.
        { schema: q.accounts, upserts: [{ id: 'a3', owner: 'cy', balance: 4 }], deletes: ['a4'] },
      ]);
      expect(accounts?.deleted).toBe(2);
      expect(accounts?.upserted.map((r) => [r.id, r.balance])).toEqual([
        ['a1', 11],
        ['a4', 0],
        ['a3', 3],
      ]);
      expect(accounts?.upserted[0]?.createdAt).toEqual(CREATED);
      expect(again).toEqual({ upserted: [expect.objectContaining({ id: 'a3', balance: 4 })], deleted: 0 });
      const { accounts: stored } = await snapshot();
      expect(stored.map((r) => [r.id, r.owner, r.email, r.balance])).toEqual([
        ['a1', 'ann', 'ann@x', 11],
        ['a3', 'cy', null, 4],
      ]);
    });

    for (const [label, code, failing] of [
      ['NOT NULL', '23502', { id: 12, account: 'a3', amount: null }],
      ['unique', '23505', { id: 12, account: 'a3', amount: 5, ref: 'r1' }],
    ] as const) {
      it(`a ${label} violation in the last op leaves both schemas as they were (${code})`, async () => {
        const before = await snapshot();
        expect(before.accounts.length).toBeGreaterThan(0);
        const error = await rejection(
          l3().transact([
            {
              schema: q.accounts,
              // Writes that differ per case, so a leak from an earlier case cannot hide this one's.
              upserts: [
                { id: 'a1', owner: `changed ${code}`, balance: Number(code) },
                { id: `a9 ${code}`, owner: 'new' },
              ],
              deletes: ['a3'],
            },
            { schema: q.ledger, upserts: [{ id: 11, account: 'a1', amount: 1 }, failing], deletes: [1] },
          ]),
        );
        expect(error.code).toBe(code);
        expect(await snapshot()).toEqual(before);
      });
    }

    const wideRows = (from: number, count: number): Row[] =>
      Array.from({ length: count }, (_, i) => ({
        id: from + i,
        c1: `w${from + i}`,
        c2: i % 3 === 0 ? null : `'; drop table wide; -- ${i}`,
        c3: i,
        c4: i === 0 ? 0 : -i, // no -0: an integer column stores 0
        c5: 2n ** 62n + BigInt(i),
        c6: new Date(1_700_000_000_000 + i),
        c7: { i },
      }));
    const ledgerRows = (from: number, count: number): Row[] =>
      Array.from({ length: count }, (_, i) => ({ id: from + i, account: 'bulk', amount: i, ref: null }));

    it('10,000 rows per schema go in one statement each (past the parameter limit as one recordset), in one transaction', {
      timeout: 120_000,
    }, async () => {
      const wide = wideRows(0, 10_000);
      const mark = suite.log.length;
      const [w, l] = await l3().transact([
        { schema: q.wide, upserts: wide, deletes: [] },
        { schema: q.ledger, upserts: ledgerRows(1_000, 10_000), deletes: [1, 2, 3] },
      ]);
      const target = (table: string) => `"${suite.schemaName}"."${table}"`;
      // 8 columns × 10,000 rows exceed one VALUES statement's parameters: one jsonb_to_recordset
      // statement (one parameter) instead of two chunks. The ledger's 4 columns fit one VALUES.
      const wideInserts = loggedSince(suite, mark, `insert into ${target('wide')}`);
      expect(wideInserts).toHaveLength(1);
      expect(wideInserts[0]?.query).toContain('jsonb_to_recordset');
      expect(loggedSince(suite, mark, `insert into ${target('ledger')}`)).toHaveLength(1);
      expect(loggedSince(suite, mark, `delete from ${target('ledger')}`)).toHaveLength(1);
      // RETURNING of the recordset statement decoded as Drizzle would: bigint, Date, JSON.
      expect([...(w?.upserted ?? [])].sort((x, y) => Number(x.id) - Number(y.id))).toEqual(wide);
      expect(l).toEqual({ upserted: expect.any(Array), deleted: 2 });
      expect(l?.upserted).toHaveLength(10_000);
      expect(await l3().count(q.wide)).toBe(10_000);
      expect(await l3().search(q.wide, { limit: 2, offset: 9_998 })).toEqual(wide.slice(9_998));
      expect(await l3().count(q.ledger)).toBe(10_000);
    });

    it('a failure in the last chunk of the last op undoes every chunk of every op', {
      timeout: 120_000,
    }, async () => {
      const ledger = ledgerRows(20_000, 10_000);
      ledger[ledger.length - 1] = { id: 29_999, account: null, amount: 1 };
      const before = await snapshot();
      const error = await rejection(
        l3().transact([
          { schema: q.wide, upserts: wideRows(10_000, 10_000), deletes: [0, 1] },
          { schema: q.ledger, upserts: ledger, deletes: [] },
        ]),
      );
      expect(error.code).toBe('23502');
      expect(await l3().count(q.wide)).toBe(10_000);
      expect(await l3().findMany(q.wide, [0, 1, 10_000, 19_999])).toHaveLength(2);
      expect(await snapshot()).toEqual(before);
    });
  });
}
