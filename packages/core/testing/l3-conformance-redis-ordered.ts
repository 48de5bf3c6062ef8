import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { del, type L3Suite, op, readRows, set, versionsOf, writeOne } from './l3-conformance-suite.js';
import { expectVersions, storedVersions, type VersionsModel } from './l3-conformance-versions-model.js';

const CREATED = new Date('2020-02-02T02:02:02.002Z');

/**
 * Redis-ordered writes (a version given): write-behind flushes that may be redelivered and reordered
 * land once, the newest version first and last, deletes included (tombstones).
 */
export function registerRedisOrderedTests(suite: L3Suite, v: VersionsModel): void {
  const l3 = () => suite.l3();
  const items = (ids: readonly string[]) => readRows(l3(), v.items, ids);

  describe('Redis-ordered writes', () => {
    const first = () =>
      op(
        v.items,
        set({ id: 'a', name: 'A', n: 1, createdAt: CREATED }, 10),
        set({ id: 'b', name: 'B', note: 'given', doc: { deep: ['x', 1] } }, 11),
        del('never-existed', 12),
      );

    it('applies new writes at their own versions, defaults included, deletes too', async () => {
      const [outcomes] = await l3().write([first()]);
      expect(outcomes).toEqual([
        {
          applied: true,
          version: 10,
          row: { id: 'a', name: 'A', n: 1, note: 'dflt', doc: null, createdAt: CREATED },
        },
        {
          applied: true,
          version: 11,
          row: expect.objectContaining({ id: 'b', n: null, note: 'given', doc: { deep: ['x', 1] } }),
        },
        { applied: true, version: 12, existed: false },
      ]);
      expect(versionsOf(await l3().findMany(v.items, ['a', 'b', 'never-existed']))).toEqual([
        ['a', 10],
        ['b', 11],
      ]);
      await expectVersions(suite, v.items, ['a', 'b', 'never-existed'], {
        a: [10, false],
        b: [11, false],
        'never-existed': [12, true],
      });
    });

    it('a redelivered call (equal versions) applies nothing and leaves rows and versions identical', async () => {
      const ids = ['a', 'b', 'never-existed'];
      const [rows, versions] = [await items(ids), await storedVersions(suite, v.items, ids)];
      const skipped = [
        { applied: false, version: 10 },
        { applied: false, version: 11 },
        { applied: false, version: 12 },
      ];
      expect(await l3().write([first()])).toEqual([skipped]);
      expect(await l3().write([first()])).toEqual([skipped]);
      expect(await items(ids)).toEqual(rows);
      expect(await storedVersions(suite, v.items, ids)).toEqual(versions);
    });

    it('an older version after a newer one changes nothing; the newer row stays, its insert-only column too', async () => {
      const later = new Date('2031-01-01T00:00:00Z');
      const [applied] = await writeOne(
        l3(),
        v.items,
        set({ id: 'a', name: 'A20', n: 20, createdAt: later }, 20),
      );
      expect(applied).toMatchObject({ applied: true, version: 20, row: { name: 'A20', createdAt: CREATED } });
      expect(await writeOne(l3(), v.items, set({ id: 'a', name: 'A15', n: 15 }, 15))).toEqual([
        { applied: false, version: 15 },
      ]);
      expect(await items(['a'])).toEqual([
        { id: 'a', name: 'A20', n: 20, note: 'dflt', doc: null, createdAt: CREATED },
      ]);
      await expectVersions(suite, v.items, ['a'], { a: [20, false] });
    });

    it('an older set after a newer delete does not resurrect the row; a newer set re-creates it', async () => {
      expect(await writeOne(l3(), v.items, del('a', 30))).toEqual([
        { applied: true, version: 30, existed: true },
      ]);
      expect(await writeOne(l3(), v.items, set({ id: 'a', name: 'late' }, 25))).toEqual([
        { applied: false, version: 25 },
      ]);
      expect(await items(['a'])).toEqual([]);
      await expectVersions(suite, v.items, ['a'], { a: [30, true] });
      // An older delete after the newer delete changes nothing either.
      expect(await writeOne(l3(), v.items, del('a', 29))).toEqual([{ applied: false, version: 29 }]);
      const [back] = await writeOne(l3(), v.items, set({ id: 'a', name: 'back' }, 31));
      expect(back).toMatchObject({
        applied: true,
        version: 31,
        row: { id: 'a', name: 'back', note: 'dflt' },
      });
      await expectVersions(suite, v.items, ['a'], { a: [31, false] });
    });

    it('within one call the highest version of a key wins, set or delete', async () => {
      const outcomes = await writeOne(
        l3(),
        v.items,
        set({ id: 'c', name: 'three' }, 3),
        set({ id: 'c', name: 'one' }, 1),
        set({ id: 'c', name: 'two' }, 2),
        set({ id: 'd', name: 'set before its delete' }, 5),
        set({ id: 'e', name: 'set after its delete' }, 8),
        del('d', 6),
        del('e', 7),
      );
      expect(outcomes.map((o) => [o.applied, o.version])).toEqual([
        [true, 3],
        [false, 1],
        [false, 2],
        [false, 5],
        [true, 8],
        [true, 6],
        [false, 7],
      ]);
      expect((await items(['c', 'd', 'e'])).map((r) => [r.id, r.name])).toEqual([
        ['c', 'three'],
        ['e', 'set after its delete'],
      ]);
      await expectVersions(suite, v.items, ['c', 'd', 'e'], { c: [3, false], d: [6, true], e: [8, false] });
    });

    it('writes two schemas in one call, an outcome per op; a delete may name an integer key as text', async () => {
      const results = await l3().write([
        op(v.counts, set({ id: 42, total: 2n ** 62n, by: 'first' }, 1), set({ id: 43, total: 1n }, 1)),
        op(v.items, set({ id: 'f', name: 'F' }, 1), del('b', 12)),
      ]);
      expect(results.map((r) => r.map((o) => [o.applied, o.version]))).toEqual([
        [
          [true, 1],
          [true, 1],
        ],
        [
          [true, 1],
          [true, 12],
        ],
      ]);
      expect(results[0]?.[0]?.row).toEqual({ id: 42, total: 2n ** 62n, by: 'first' });
      expect((await items(['b', 'f'])).map((r) => r.id)).toEqual(['f']);
      const again = await l3().write([
        op(v.counts, set({ id: 43, total: 1n }, 1), del('42', 2)),
        op(v.items, set({ id: 'f', name: 'F2' }, 2)),
      ]);
      expect(again.map((r) => r.map((o) => o.applied))).toEqual([[false, true], [true]]);
      expect(await l3().findMany(v.counts, [42, 43])).toEqual([
        { row: { id: 43, total: 1n, by: null }, version: 1 },
      ]);
      expect(await items(['f'])).toEqual([expect.objectContaining({ name: 'F2' })]);
    });

    it('an equal version is a redelivery: skipped, and its row is not written again', async (ctx) => {
      const db = suite.db();
      if (!db) return ctx.skip();
      expect((await writeOne(l3(), v.items, set({ id: 'r', name: 'flushed' }, 5)))[0]?.applied).toBe(true);
      // Changed by hand after the flush: a redelivery must not undo it.
      const byHand = (name: string) =>
        db
          .update(v.items.table)
          .set({ name } as never)
          .where(eq(v.items.primaryKey.column, 'r'));
      await byHand('by hand');
      expect(await writeOne(l3(), v.items, set({ id: 'r', name: 'flushed' }, 5))).toEqual([
        { applied: false, version: 5 },
      ]);
      expect(await items(['r'])).toEqual([expect.objectContaining({ name: 'by hand' })]);
      expect(await writeOne(l3(), v.items, del('r', 6))).toEqual([
        { applied: true, version: 6, existed: true },
      ]);
      expect(await writeOne(l3(), v.items, del('r', 6))).toEqual([{ applied: false, version: 6 }]);
    });
  });
}
