import { beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../src/l3/types.js';
import {
  del,
  type L3Suite,
  loggedSince,
  op,
  rejection,
  rowsOf,
  set,
  sortedStored,
  writesTo,
} from './l3-conformance-suite.js';
import type { QueryModel } from './l3-conformance-tables.js';

const CREATED = new Date('2020-05-05T05:05:05.005Z');

/** write() across schemas: a result per op and write, all or nothing, big calls in one transaction. */
export function registerAtomicTests(suite: L3Suite, q: QueryModel): void {
  const l3 = () => suite.l3();
  const all = { limit: 100_000, offset: 0 };
  const snapshot = async () => ({
    accounts: await l3().search(q.accounts, all),
    ledger: await l3().search(q.ledger, all),
  });

  describe('write across schemas, atomically', () => {
    beforeAll(async () => {
      await l3().migrate([q.accounts, q.ledger, q.wide]);
    });

    it('commits ops across two schemas together, with an outcome per write', async () => {
      const results = await l3().write([
        op(
          q.accounts,
          set({ id: 'a1', owner: 'ann', email: 'ann@x', balance: 10, createdAt: CREATED }),
          set({ id: 'a2', owner: 'bob', email: 'bob@x' }),
        ),
        op(
          q.ledger,
          set({ id: 1, account: 'a1', amount: 10, ref: 'r1' }),
          set({ id: 2, account: 'a2', amount: 0, ref: 'r2' }),
          del(99),
        ),
      ]);
      const accounts = [
        { id: 'a1', owner: 'ann', email: 'ann@x', balance: 10, createdAt: CREATED },
        { id: 'a2', owner: 'bob', email: 'bob@x', balance: 0, createdAt: expect.any(Date) },
      ];
      const ledger = [
        { id: 1, account: 'a1', amount: 10, ref: 'r1' },
        { id: 2, account: 'a2', amount: 0, ref: 'r2' },
      ];
      expect(results).toEqual([
        accounts.map((row) => ({ applied: true, version: 1, row })),
        [
          ...ledger.map((row) => ({ applied: true, version: 1, row })),
          { applied: true, version: 1, existed: false },
        ],
      ]);
      const now = await snapshot();
      expect(rowsOf(now.accounts)).toEqual(results[0]!.map((o) => o.row));
      expect(rowsOf(now.ledger)).toEqual(ledger);
    });

    it('the last write of a key wins across ops of one call; insert-only columns stay', async () => {
      const [accounts, again] = await l3().write([
        op(
          q.accounts,
          set({ id: 'a1', owner: 'ann', balance: 11, createdAt: new Date('2030-01-01T00:00:00Z') }),
          set({ id: 'a3', owner: 'cy', balance: 1 }),
          set({ id: 'a4', owner: 'dee' }),
          set({ id: 'a3', owner: 'cy', balance: 3 }),
          del('a2'),
          del('a4'),
          del('missing'),
        ),
        // The same schema again: its writes come after the first op's.
        op(q.accounts, set({ id: 'a3', owner: 'cy', balance: 4 }), del('a4')),
      ]);
      expect(accounts!.map((o) => o.applied)).toEqual([true, false, false, false, true, false, true]);
      expect(accounts![0]?.row).toMatchObject({ balance: 11, createdAt: CREATED });
      expect(accounts![4]).toEqual({ applied: true, version: 2, existed: true });
      expect(again).toEqual([
        { applied: true, version: 1, row: expect.objectContaining({ id: 'a3', balance: 4 }) },
        { applied: true, version: 1, existed: false },
      ]);
      const { accounts: stored } = await snapshot();
      expect(rowsOf(stored).map((r) => [r.id, r.owner, r.email, r.balance])).toEqual([
        ['a1', 'ann', 'ann@x', 11],
        ['a3', 'cy', null, 4],
      ]);
      expect(stored.map((s) => s.version)).toEqual([2, 1]);
    });

    for (const [label, code, failing] of [
      ['NOT NULL', '23502', { id: 12, account: 'a3', amount: null }],
      ['unique', '23505', { id: 12, account: 'a3', amount: 5, ref: 'r1' }],
    ] as const) {
      it(`a ${label} violation in the last op leaves both schemas and their versions as they were (${code})`, async () => {
        const before = await snapshot();
        expect(before.accounts.length).toBeGreaterThan(0);
        const error = await rejection(
          l3().write([
            // Writes that differ per case, so a leak from an earlier case cannot hide this one's.
            op(
              q.accounts,
              set({ id: 'a1', owner: `changed ${code}`, balance: Number(code) }),
              set({ id: `a9 ${code}`, owner: 'new' }),
              del('a3'),
            ),
            // Not row 1 (ref r1): deleting it first would leave nothing for the unique case to violate.
            op(q.ledger, set({ id: 11, account: 'a1', amount: 1 }), set(failing), del(2)),
          ]),
        );
        expect(error.code).toBe(code);
        // Rows and versions (reads carry them) as they were.
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

    it('10,000 rows per schema in one transaction: a recordset past the parameter limit, RETURNING decoded', {
      timeout: 120_000,
    }, async () => {
      const wide = wideRows(0, 10_000);
      const mark = suite.log.length;
      const [w, l] = await l3().write([
        op(q.wide, ...wide.map((row) => set(row))),
        op(q.ledger, ...ledgerRows(1_000, 10_000).map((row) => set(row)), del(1), del(2), del(3)),
      ]);
      // 8 columns × 10,000 rows exceed one VALUES statement's parameters: one jsonb_to_recordset
      // statement (one parameter) instead. The ledger's 4 columns fit one VALUES statement.
      const wideInserts = writesTo(suite, mark, 'insert into', 'wide');
      expect(wideInserts).toHaveLength(1);
      expect(wideInserts[0]?.query).toContain('jsonb_to_recordset');
      expect(writesTo(suite, mark, 'insert into', 'ledger')).toHaveLength(1);
      expect(writesTo(suite, mark, 'delete from', 'ledger')).toHaveLength(1);
      for (const statement of loggedSince(suite, mark))
        expect(statement.params.length).toBeLessThanOrEqual(65_535);
      // RETURNING of the recordset statement decoded as Drizzle would: bigint, Date, JSON.
      expect(w!.map((o) => o.row)).toEqual(wide);
      expect(l!.slice(-3)).toEqual([
        { applied: true, version: 2, existed: true },
        { applied: true, version: 2, existed: true },
        { applied: true, version: 1, existed: false },
      ]);
      expect(await l3().count(q.wide)).toBe(10_000);
      expect(rowsOf(await l3().search(q.wide, { limit: 2, offset: 9_998 }))).toEqual(wide.slice(9_998));
      expect(await l3().count(q.ledger)).toBe(10_000);
    });

    it('a failure in the last part of the last op undoes every part of every op', {
      timeout: 120_000,
    }, async () => {
      const ledger = ledgerRows(20_000, 10_000);
      ledger[ledger.length - 1] = { id: 29_999, account: null, amount: 1, ref: null };
      const before = await snapshot();
      const wideBefore = sortedStored(await l3().findMany(q.wide, [0, 1]));
      const error = await rejection(
        l3().write([
          op(q.wide, ...wideRows(10_000, 10_000).map((row) => set(row)), del(0), del(1)),
          op(q.ledger, ...ledger.map((row) => set(row))),
        ]),
      );
      expect(error.code).toBe('23502');
      expect(await l3().count(q.wide)).toBe(10_000);
      expect(sortedStored(await l3().findMany(q.wide, [0, 1, 10_000, 19_999]))).toEqual(wideBefore);
      expect(await snapshot()).toEqual(before);
    });
  });
}
