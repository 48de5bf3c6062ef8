import { expect, it } from 'vitest';
import type { Row } from '../src/l3/types.js';
import {
  del,
  type L3Suite,
  loggedSince,
  op,
  otherL3,
  readRows,
  rejection,
  set,
  versionsOf,
  writeOne,
  writesTo,
} from './l3-conformance-suite.js';
import { expectVersions, type VersionsModel } from './l3-conformance-versions-model.js';

/** Postgres- and Redis-ordered ops in one transaction, and big Redis-ordered calls. */
export function registerMixedOrderTests(suite: L3Suite, v: VersionsModel): void {
  const l3 = () => suite.l3();

  it('a Postgres-ordered op and a Redis-ordered op of another schema, shapes and deletes: all or nothing', async () => {
    await writeOne(l3(), v.items, set({ id: 'm0', name: 'kept' }), set({ id: 'm1', name: 'old' }));
    const call = (name: string | null) => [
      // Postgres-ordered: two shapes and a delete.
      op(v.items, set({ id: 'm1', name: 'new', n: 1 }), set({ id: 'm2', name }), del('m0')),
      // Redis-ordered: two shapes and a delete.
      op(v.counts, set({ id: 7, total: 7n }, 100), set({ id: 8, total: 8n, by: 'x' }, 100), del(9, 100)),
    ];
    const error = await rejection(l3().write(call(null)));
    expect(error.code).toBe('23502');
    expect((await readRows(l3(), v.items, ['m0', 'm1', 'm2'])).map((r) => [r.id, r.name])).toEqual([
      ['m0', 'kept'],
      ['m1', 'old'],
    ]);
    expect(await l3().findMany(v.counts, [7, 8])).toEqual([]);
    await expectVersions(suite, v.items, ['m0', 'm1', 'm2'], { m0: [1, false], m1: [1, false] });
    await expectVersions(suite, v.counts, ['7', '8', '9'], {});
    const results = await l3().write(call('fixed'));
    expect(results.map((r) => r.map((o) => [o.applied, o.version]))).toEqual([
      [
        [true, 2],
        [true, 1],
        [true, 2],
      ],
      [
        [true, 100],
        [true, 100],
        [true, 100],
      ],
    ]);
    expect(results[0]?.[2]?.existed).toBe(true);
    expect(results[1]?.[1]?.row).toEqual({ id: 8, total: 8n, by: 'x' });
    expect(versionsOf(await l3().findMany(v.items, ['m0', 'm1', 'm2']))).toEqual([
      ['m1', 2],
      ['m2', 1],
    ]);
    await expectVersions(suite, v.counts, ['7', '8', '9'], {
      7: [100, false],
      8: [100, false],
      9: [100, true],
    });
    // Redelivered, the Redis-ordered op changes nothing; the Postgres-ordered one applies again.
    const again = await l3().write(call('again'));
    expect(again.map((r) => r.map((o) => [o.applied, o.version]))).toEqual([
      [
        [true, 3],
        [true, 2],
        [true, 3],
      ],
      [
        [false, 100],
        [false, 100],
        [false, 100],
      ],
    ]);
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

  it('10,000 Redis-ordered rows: one recordset statement; redelivered with half of them newer, half lands', {
    timeout: 120_000,
  }, async () => {
    const first = bulkRows('v');
    const mark = suite.log.length;
    const outcomes = await writeOne(l3(), v.bulk, ...first.map((row, i) => set(row, 1_000 + i)));
    expect(loggedSince(suite, mark)).toHaveLength(1);
    expect(loggedSince(suite, mark)[0]?.query).toContain('jsonb_to_recordset');
    expect(outcomes.every((o, i) => o.applied && o.version === 1_000 + i)).toBe(true);
    expect(await l3().count(v.bulk)).toBe(10_000);
    expect(await readRows(l3(), v.bulk, [0, 9_999])).toEqual([first[0], first[9_999]]);

    // Again, with even ids newer than stored and odd ids older (a late retry), and id 1 deleted.
    const second = bulkRows('w');
    const again = await writeOne(
      l3(),
      v.bulk,
      ...second.map((row, i) => set(row, i % 2 === 0 ? 20_000 + i : i)),
      del(1, 50_000),
    );
    expect(again.filter((o) => o.applied)).toHaveLength(5_001);
    // Id 1: its older set is superseded in the call by its delete, which lands.
    expect(again.at(-1)).toEqual({ applied: true, version: 50_000, existed: true });
    expect(await readRows(l3(), v.bulk, [0, 1, 2, 3, 9_998, 9_999])).toEqual([
      second[0],
      second[2],
      first[3],
      second[9_998],
      first[9_999],
    ]);
    expect(await l3().count(v.bulk)).toBe(9_999);
  });

  it('Redis-ordered rows in VALUES parts under a small maxParameters: newer ones land, older ones do not', async (ctx) => {
    const small = otherL3(suite, { maxParameters: 16 });
    if (!small) return ctx.skip();
    const rows = (tag: number) =>
      Array.from({ length: 40 }, (_, i) => ({ id: i, data: Uint8Array.of(tag, i) }));
    const mark = suite.log.length;
    const outcomes = await writeOne(small, v.blobs, ...rows(1).map((row, i) => set(row, 100 + i)));
    // Two cells and a version a row, the identity once: 4 rows per part.
    expect(writesTo(suite, mark, 'insert into', 'v_blobs')).toHaveLength(10);
    for (const statement of loggedSince(suite, mark)) expect(statement.params.length).toBeLessThanOrEqual(16);
    expect(outcomes.map((o) => o.version)).toEqual(rows(1).map((_, i) => 100 + i));
    const again = await writeOne(
      small,
      v.blobs,
      ...rows(2).map((row, i) => set(row, i < 20 ? 200 : 50)),
      del(39, 300),
    );
    expect(again.map((o) => o.applied)).toEqual([...rows(2).map((_, i) => i < 20), true]);
    const stored = await readRows(l3(), v.blobs, [0, 19, 20, 39]);
    expect(stored).toEqual([rows(2)[0], rows(2)[19], rows(1)[20]]);
  });
}
