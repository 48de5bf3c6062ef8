import { and, eq, gt, gte, inArray, isNull, lte, type SQL, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Row, SearchQuery } from '../src/l3/types.js';
import { type L3Suite, loggedSince, rejection, set, writeOne } from './l3-conformance-suite.js';
import { PEOPLE, peopleRows, type QueryModel, sortLikePostgres } from './l3-conformance-tables.js';

type Order = { key: string; desc: boolean }[];

/** search() and count(): conditions, order, paging, projection, decoding, errors. */
export function registerSearchTests(suite: L3Suite, q: QueryModel): void {
  const l3 = () => suite.l3();
  const people = q.tables.people;
  const seed = peopleRows();
  const all = { limit: 1_000, offset: 0 };
  const idsOf = (rows: readonly Row[]) => rows.map((r) => r.id);
  /** The rows of a search, in its order, without their versions. */
  const search = async (query: SearchQuery) => (await l3().search(q.people, query)).map((s) => s.row);

  describe('search and count', () => {
    beforeAll(async () => {
      await l3().migrate([q.people]);
      await writeOne(l3(), q.people, ...seed.map((row) => set(row)));
    });

    it('restores every type in search results: Date to the ms, bigint past 2^53, bytes, jsonb; with versions', async () => {
      const stored = await l3().search(q.people, all);
      expect(stored.map((s) => s.version)).toEqual(seed.map(() => 1));
      const rows = stored.map((s) => s.row);
      expect(rows).toEqual(seed);
      for (const [i, row] of rows.entries()) {
        const expected = seed[i]!;
        expect(typeof row.big).toBe('bigint');
        expect(row.big).toBe(expected.big);
        expect(row.at).toBeInstanceOf(Date);
        expect((row.at as Date).getTime()).toBe((expected.at as Date).getTime());
        expect(Object.getPrototypeOf(row.data)).toBe(Uint8Array.prototype);
        expect(row.doc).toEqual(expected.doc);
      }
    });

    it('filters by a Drizzle condition, its values sent as bound parameters', async () => {
      const level = (r: Row) => (r.level === null ? -1 : Number(r.level));
      const cutoff = seed[10]!.at as Date;
      const cases: [SQL, (r: Row) => boolean][] = [
        [and(eq(people.team, 'red'), gte(people.level, 3))!, (r) => r.team === 'red' && level(r) >= 3],
        [gt(people.big, 2n ** 60n + 40n), (r) => (r.big as bigint) > 2n ** 60n + 40n],
        // The bound timestamp keeps its milliseconds: the row at exactly `cutoff` is in.
        [lte(people.at, cutoff), (r) => (r.at as Date).getTime() <= cutoff.getTime()],
        [isNull(people.level), (r) => r.level === null],
        [sql`${people.doc}->>'tag' = ${'odd'}`, (r) => (r.doc as { tag: string }).tag === 'odd'],
        [inArray(people.name, ['p03', 'p07', 'nobody']), (r) => r.name === 'p03' || r.name === 'p07'],
      ];
      for (const [where, match] of cases) {
        const expected = seed.filter(match);
        expect(expected.length).toBeGreaterThan(0);
        expect(await search({ where, ...all })).toEqual(expected);
        expect(await l3().count(q.people, where)).toBe(expected.length);
      }
      const mark = suite.log.length;
      await search({ where: eq(people.name, 'p42-literal'), ...all });
      const [statement] = loggedSince(suite, mark, 'select');
      expect(statement?.query).not.toContain('p42-literal');
      expect(statement?.params).toContain('p42-literal');
    });

    it('orders by several keys ascending and descending, nulls as Postgres puts them, ties by id', async () => {
      const orders: Order[] = [
        [
          { key: 'team', desc: false },
          { key: 'level', desc: true },
        ],
        [{ key: 'level', desc: false }],
        [
          { key: 'level', desc: true },
          { key: 'name', desc: true },
        ],
        [{ key: 'big', desc: true }],
        [{ key: 'at', desc: true }],
        [{ key: 'id', desc: true }],
        [
          { key: 'team', desc: true },
          { key: 'id', desc: true },
          { key: 'level', desc: false },
        ],
      ];
      for (const orderBy of orders) {
        const rows = await search({ orderBy, ...all });
        expect(idsOf(rows), JSON.stringify(orderBy)).toEqual(idsOf(sortLikePostgres(seed, orderBy)));
      }
    });

    it('pages with limit and offset: every row exactly once, in order', async () => {
      const orderBy: Order = [{ key: 'level', desc: true }]; // mostly ties: only the id keeps pages apart
      const pages = async (where: SQL | undefined, size: number) => {
        const seen: unknown[] = [];
        for (let offset = 0; ; offset += size) {
          const page = await search({ orderBy, limit: size, offset, ...(where && { where }) });
          seen.push(...idsOf(page));
          if (page.length < size) return seen;
        }
      };
      const every = await pages(undefined, 7);
      expect(every).toEqual(idsOf(sortLikePostgres(seed, orderBy)));
      expect(new Set(every).size).toBe(PEOPLE);
      const green = await pages(eq(people.team, 'green'), 4);
      expect(green).toEqual(idsOf(sortLikePostgres(seed, orderBy).filter((r) => r.team === 'green')));
      expect(await search({ limit: 10, offset: PEOPLE })).toEqual([]);
      expect(await search({ limit: 3, offset: PEOPLE - 2 })).toHaveLength(2);
    });

    it('projects the requested fields only, still decoded', async () => {
      const rows = await search({
        fields: ['big', 'at', 'doc'],
        where: lte(people.id, 3),
        orderBy: [{ key: 'id', desc: true }],
        ...all,
      });
      const expected = seed.slice(0, 3).reverse();
      expect(rows).toEqual(expected.map(({ big, at, doc }) => ({ big, at, doc })));
      for (const row of rows) expect(Object.keys(row).sort()).toEqual(['at', 'big', 'doc']);
      const [bytes] = await search({ fields: ['data'], where: eq(people.id, 5), ...all });
      expect(bytes).toEqual({ data: seed[4]!.data });
      expect(Object.getPrototypeOf(bytes?.data)).toBe(Uint8Array.prototype);
      // The version comes with a projection too.
      const named = await l3().search(q.people, { fields: ['name'], where: eq(people.id, 5), ...all });
      expect(named).toEqual([{ row: { name: 'p04' }, version: 1 }]);
    });

    it('counts every row, or those matching, as a number', async () => {
      const total = await l3().count(q.people);
      expect(total).toBe(PEOPLE);
      expect(typeof total).toBe('number');
      const red = seed.filter((r) => r.team === 'red').length;
      expect(await l3().count(q.people, eq(people.team, 'red'))).toBe(red);
      expect(await l3().count(q.people, eq(people.name, 'nobody'))).toBe(0);
    });

    it('a failing search or count rejects with the driver error and its SQLSTATE', async () => {
      const bad = sql`${people.name}::int = 1`; // 'p00' is no integer: 22P02 while scanning
      expect((await rejection(search({ where: bad, ...all }))).code).toBe('22P02');
      expect((await rejection(l3().count(q.people, bad))).code).toBe('22P02');
      expect(await l3().count(q.people)).toBe(PEOPLE);
    });
  });
}
