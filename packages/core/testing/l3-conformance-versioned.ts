import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { byId, type L3Suite } from './l3-conformance-suite.js';
import { registerVersionedBulkTests } from './l3-conformance-versioned-bulk.js';
import { expectVersions, op, storedVersions, type VersionedModel } from './l3-conformance-versioned-model.js';

const CREATED = new Date('2020-02-02T02:02:02.002Z');

/**
 * applyVersioned(): write-behind flushes that may be redelivered and reordered land once, newest
 * version first-and-last, deletes included (tombstones).
 */
export function registerVersionedTests(suite: L3Suite, v: VersionedModel): void {
  const l3 = () => suite.l3();
  const items = (ids: readonly string[]) =>
    l3()
      .findMany(v.items, ids)
      .then((rows) => rows.sort(byId));

  describe('applyVersioned', () => {
    beforeAll(async () => {
      await l3().migrate([v.items, v.counts, v.bulk]);
    });

    it('creates _strata_versions when it is missing, so it works without migrate', async (ctx) => {
      const db = suite.db();
      if (!db) return ctx.skip();
      const versions = sql`${sql.identifier(suite.schemaName)}.${sql.identifier('_strata_versions')}`;
      await db.execute(sql`drop table ${versions}`);
      expect(await l3().applyVersioned([op(v.items, [[{ id: 'lazy', name: 'L' }, 1]])])).toEqual([
        { applied: ['lazy'], skipped: [] },
      ]);
      await expectVersions(suite, v.items, ['lazy'], { lazy: [1, false] });
    });

    it('an empty call, or empty ops, sends nothing', async () => {
      const mark = suite.log.length;
      expect(await l3().applyVersioned([])).toEqual([]);
      expect(await l3().applyVersioned([op(v.items, []), op(v.counts, [])])).toEqual([
        { applied: [], skipped: [] },
        { applied: [], skipped: [] },
      ]);
      expect(suite.log.length).toBe(mark);
    });

    it('applies new writes, defaults included, and records their versions (deletes too)', async () => {
      const result = await l3().applyVersioned([
        op(
          v.items,
          [
            [{ id: 'a', name: 'A', n: 1, createdAt: CREATED }, 10],
            [{ id: 'b', name: 'B', note: 'given', doc: { deep: ['x', 1] } }, 11],
          ],
          [['never-existed', 12]],
        ),
      ]);
      expect(result).toEqual([{ applied: ['a', 'b', 'never-existed'], skipped: [] }]);
      const [a, b] = await items(['a', 'b']);
      expect(a).toEqual({ id: 'a', name: 'A', n: 1, note: 'dflt', doc: null, createdAt: CREATED });
      expect(b).toMatchObject({ id: 'b', name: 'B', n: null, note: 'given', doc: { deep: ['x', 1] } });
      expect(b?.createdAt).toBeInstanceOf(Date);
      await expectVersions(suite, v.items, ['a', 'b', 'never-existed'], {
        a: [10, false],
        b: [11, false],
        'never-existed': [12, true],
      });
    });

    it('replaying the same batch applies nothing and leaves rows and versions identical', async () => {
      const batch = [
        op(
          v.items,
          [
            [{ id: 'a', name: 'A', n: 1, createdAt: CREATED }, 10],
            [{ id: 'b', name: 'B', note: 'given', doc: { deep: ['x', 1] } }, 11],
          ],
          [['never-existed', 12]],
        ),
      ];
      const ids = ['a', 'b', 'never-existed'];
      const [rows, versions] = [await items(ids), await storedVersions(suite, v.items, ids)];
      expect(await l3().applyVersioned(batch)).toEqual([{ applied: [], skipped: ids }]);
      expect(await l3().applyVersioned(batch)).toEqual([{ applied: [], skipped: ids }]);
      expect(await items(ids)).toEqual(rows);
      expect(await storedVersions(suite, v.items, ids)).toEqual(versions);
    });

    it('an older version after a newer one is skipped; the newer row stays, insert-only keys too', async () => {
      const later = new Date('2031-01-01T00:00:00Z');
      expect(
        await l3().applyVersioned([op(v.items, [[{ id: 'a', name: 'A20', n: 20, createdAt: later }, 20]])]),
      ).toEqual([{ applied: ['a'], skipped: [] }]);
      expect(await l3().applyVersioned([op(v.items, [[{ id: 'a', name: 'A15', n: 15 }, 15]])])).toEqual([
        { applied: [], skipped: ['a'] },
      ]);
      expect(await items(['a'])).toEqual([
        { id: 'a', name: 'A20', n: 20, note: 'dflt', doc: null, createdAt: CREATED },
      ]);
      await expectVersions(suite, v.items, ['a'], { a: [20, false] });
    });

    it('an older set after a newer delete does not resurrect the row; a newer set re-creates it', async () => {
      expect(await l3().applyVersioned([op(v.items, [], [['a', 30]])])).toEqual([
        { applied: ['a'], skipped: [] },
      ]);
      expect(await items(['a'])).toEqual([]);
      expect(await l3().applyVersioned([op(v.items, [[{ id: 'a', name: 'late' }, 25]])])).toEqual([
        { applied: [], skipped: ['a'] },
      ]);
      expect(await items(['a'])).toEqual([]);
      await expectVersions(suite, v.items, ['a'], { a: [30, true] });
      // An older delete after the newer delete is skipped too.
      expect(await l3().applyVersioned([op(v.items, [], [['a', 29]])])).toEqual([
        { applied: [], skipped: ['a'] },
      ]);
      expect(await l3().applyVersioned([op(v.items, [[{ id: 'a', name: 'back' }, 31]])])).toEqual([
        { applied: ['a'], skipped: [] },
      ]);
      expect(await items(['a'])).toEqual([expect.objectContaining({ id: 'a', name: 'back', note: 'dflt' })]);
      await expectVersions(suite, v.items, ['a'], { a: [31, false] });
    });

    it('coalesces a call by key: the highest version wins, set or delete', async () => {
      const [result] = await l3().applyVersioned([
        op(
          v.items,
          [
            [{ id: 'c', name: 'three' }, 3],
            [{ id: 'c', name: 'one' }, 1],
            [{ id: 'c', name: 'two' }, 2],
            [{ id: 'd', name: 'set before its delete' }, 5],
            [{ id: 'e', name: 'set after its delete' }, 8],
          ],
          [
            ['d', 6],
            ['e', 7],
          ],
        ),
      ]);
      // Every write is reported once: the winners applied, the writes they supersede skipped.
      expect(result).toEqual({ applied: ['c', 'e', 'd'], skipped: ['c', 'c', 'd', 'e'] });
      expect((await items(['c', 'd', 'e'])).map((r) => [r.id, r.name])).toEqual([
        ['c', 'three'],
        ['e', 'set after its delete'],
      ]);
      await expectVersions(suite, v.items, ['c', 'd', 'e'], { c: [3, false], d: [6, true], e: [8, false] });
    });

    it('applies two schemas in one call, a result per op; ids are keys as text', async () => {
      const results = await l3().applyVersioned([
        op(v.counts, [
          [{ id: 42, total: 2n ** 62n, by: 'first' }, 1],
          [{ id: 43, total: 1n }, 1],
        ]),
        op(v.items, [[{ id: 'f', name: 'F' }, 1]], [['b', 12]]),
      ]);
      expect(results).toEqual([
        { applied: ['42', '43'], skipped: [] },
        { applied: ['f', 'b'], skipped: [] },
      ]);
      expect((await items(['b', 'f'])).map((r) => r.id)).toEqual(['f']);
      // The engine names a delete's id as text: '42' is the key the set of 42 recorded.
      expect(
        await l3().applyVersioned([
          op(v.counts, [[{ id: 43, total: 1n }, 1]], [['42', 2]]),
          op(v.items, [[{ id: 'f', name: 'F2' }, 2]]),
        ]),
      ).toEqual([
        { applied: ['42'], skipped: ['43'] },
        { applied: ['f'], skipped: [] },
      ]);
      expect(await l3().findMany(v.counts, [42, 43])).toEqual([{ id: 43, total: 1n, by: null }]);
      expect(await items(['f'])).toEqual([expect.objectContaining({ name: 'F2' })]);
    });

    it('an equal version is a redelivery: skipped, and its row is not written again', async () => {
      expect(await l3().applyVersioned([op(v.items, [[{ id: 'r', name: 'flushed' }, 5]])])).toEqual([
        { applied: ['r'], skipped: [] },
      ]);
      // Written outside the versioned path after the flush: a redelivery must not undo it.
      await l3().upsertMany(v.items, [{ id: 'r', name: 'direct' }]);
      expect(await l3().applyVersioned([op(v.items, [[{ id: 'r', name: 'flushed' }, 5]])])).toEqual([
        { applied: [], skipped: ['r'] },
      ]);
      expect(await items(['r'])).toEqual([expect.objectContaining({ name: 'direct' })]);
      await l3().applyVersioned([op(v.items, [], [['r', 6]])]);
      await l3().upsertMany(v.items, [{ id: 'r', name: 'direct again' }]);
      expect(await l3().applyVersioned([op(v.items, [], [['r', 6]])])).toEqual([
        { applied: [], skipped: ['r'] },
      ]);
      expect(await items(['r'])).toEqual([expect.objectContaining({ name: 'direct again' })]);
    });

    registerVersionedBulkTests(suite, v);
  });
}
