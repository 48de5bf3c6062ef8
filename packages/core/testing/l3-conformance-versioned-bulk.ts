import { expect, it } from 'vitest';
import type { Row } from '../src/l3/types.js';
import { byId, type L3Suite, loggedSince, rejection } from './l3-conformance-suite.js';
import { expectVersions, op, type VersionedModel } from './l3-conformance-versioned-model.js';

/** applyVersioned() all or nothing, in chunks, and under concurrent calls for the same keys. */
export function registerVersionedBulkTests(suite: L3Suite, v: VersionedModel): void {
  const l3 = () => suite.l3();
  const items = (ids: readonly string[]) =>
    l3()
      .findMany(v.items, ids)
      .then((rows) => rows.sort(byId));

  it('a NOT NULL violation fails the whole call: no row, no version; the fixed retry applies (23502)', async () => {
    await l3().applyVersioned([op(v.items, [[{ id: 'x0', name: 'kept' }, 1]])]);
    const batch = (name: string | null) => [
      op(
        v.items,
        [
          [{ id: 'x1', name: 'fine' }, 100],
          [{ id: 'x2', name }, 100],
        ],
        [['x0', 100]],
      ),
      op(v.counts, [[{ id: 7, total: 7n }, 100]]),
    ];
    const error = await rejection(l3().applyVersioned(batch(null)));
    expect(error.code).toBe('23502');
    expect((await items(['x0', 'x1', 'x2'])).map((r) => r.id)).toEqual(['x0']);
    expect(await l3().findMany(v.counts, [7])).toEqual([]);
    await expectVersions(suite, v.items, ['x0', 'x1', 'x2'], { x0: [1, false] });
    await expectVersions(suite, v.counts, ['7'], {});
    expect(await l3().applyVersioned(batch('fixed'))).toEqual([
      { applied: ['x1', 'x2', 'x0'], skipped: [] },
      { applied: ['7'], skipped: [] },
    ]);
    expect((await items(['x0', 'x1', 'x2'])).map((r) => [r.id, r.name])).toEqual([
      ['x1', 'fine'],
      ['x2', 'fixed'],
    ]);
    await expectVersions(suite, v.items, ['x0', 'x1', 'x2'], {
      x0: [100, true],
      x1: [100, false],
      x2: [100, false],
    });
  });

  const bulkRows = (tag: string): Row[] =>
    Array.from({ length: 10_000 }, (_, i) => ({
      id: i,
      a: `${tag}${i}`,
      b: i,
      c: i / 7,
      d: i % 2 === 0,
      e: i % 3 === 0 ? null : `'; drop table v_bulk; -- ${i}`,
    }));

  it('10,000 versioned rows in one call go in chunks under the parameter limit, atomically', {
    timeout: 120_000,
  }, async () => {
    const first = bulkRows('v');
    const target = (table: string) => `insert into "${suite.schemaName}"."${table}"`;
    const mark = suite.log.length;
    const [result] = await l3().applyVersioned([
      op(
        v.bulk,
        first.map((row, i) => [row, 1_000 + i] as const),
      ),
    ]);
    // Versions: 5 columns, 13,106 rows per INSERT. Rows: 6 cells + key + version, and the schema name
    // once: 8,191 rows per INSERT.
    expect(loggedSince(suite, mark, target('_strata_versions'))).toHaveLength(1);
    expect(loggedSince(suite, mark, target('v_bulk'))).toHaveLength(Math.ceil(10_000 / 8_191));
    expect(loggedSince(suite, mark, target('v_bulk'))).toHaveLength(2);
    for (const statement of loggedSince(suite, mark))
      expect(statement.params.length).toBeLessThanOrEqual(65_535);
    expect(result?.applied).toHaveLength(10_000);
    expect(result?.skipped).toEqual([]);
    expect(await l3().count(v.bulk)).toBe(10_000);
    expect(await l3().findMany(v.bulk, [0, 9_999])).toEqual(expect.arrayContaining([first[0], first[9_999]]));

    // Again, with even ids newer than stored and odd ids older (a late retry): half of it lands.
    const second = bulkRows('w');
    const [again] = await l3().applyVersioned([
      op(
        v.bulk,
        second.map((row, i) => [row, i % 2 === 0 ? 20_000 + i : i] as const),
        [[1, 50_000]],
      ),
    ]);
    expect(again?.applied).toHaveLength(5_001);
    expect(again?.skipped).toHaveLength(5_000);
    // Id 1: its older set is superseded in the call by its delete, which lands.
    expect(again?.applied.at(-1)).toBe('1');
    const sample = await l3().findMany(v.bulk, [0, 1, 2, 3, 9_998, 9_999]);
    expect(sample.sort((x, y) => Number(x.id) - Number(y.id))).toEqual([
      second[0],
      second[2],
      first[3],
      second[9_998],
      first[9_999],
    ]);
    expect(await l3().count(v.bulk)).toBe(9_999);
  });

  it('concurrent calls with interleaved versions for the same keys end with each key’s newest row', {
    timeout: 60_000,
  }, async () => {
    // Enough keys that the two calls overlap: listed in opposite orders, they would deadlock (40P01)
    // unless every call locks keys in one order.
    const keys = Array.from({ length: 3_000 }, (_, k) => 1_000 + k);
    for (let round = 0; round < 4; round++) {
      const base = round * 10;
      // 'one' is newer on even keys, 'two' on odd ones; 'two' lists the keys in reverse.
      const versionOf = (who: 'one' | 'two', id: number) =>
        base + ((id % 2 === 0) === (who === 'one') ? 2 : 1);
      const call = (who: 'one' | 'two', ids: readonly number[]) =>
        l3().applyVersioned([
          op(
            v.counts,
            ids.map(
              (id) => [{ id, total: BigInt(versionOf(who, id)), by: who }, versionOf(who, id)] as const,
            ),
          ),
        ]);
      const [[one], [two]] = await Promise.all([call('one', keys), call('two', [...keys].reverse())]);
      // Whichever ran first, the newest write of every key was applied.
      for (const id of keys) {
        const newest = id % 2 === 0 ? one : two;
        expect(newest?.applied).toContain(String(id));
      }
      const stored = await l3().findMany(v.counts, keys);
      expect(stored).toHaveLength(keys.length);
      for (const row of stored) {
        expect(row).toEqual({
          id: row.id,
          total: BigInt(base + 2),
          by: Number(row.id) % 2 === 0 ? 'one' : 'two',
        });
      }
    }
    const expected = Object.fromEntries(keys.map((id) => [String(id), [32, false] as const]));
    await expectVersions(suite, v.counts, Object.keys(expected), expected);
  });
}
