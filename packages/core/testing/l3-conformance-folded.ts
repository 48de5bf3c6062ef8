import { describe, expect, it } from 'vitest';
import { del, type L3Suite, op, readRows, set, writeOne } from './l3-conformance-suite.js';
import { expectVersions, type VersionsModel } from './l3-conformance-versions-model.js';

const FIRST = new Date('2022-01-01T00:00:00.000Z');
const LATER = new Date('2023-01-01T00:00:00.000Z');

/**
 * Writes a write-behind flush builds from several of a key's writes: `replace` (sets after a delete
 * make a new row) and `since` (the fold applies only if no other write of the key landed among the
 * writes it folds), in the one-statement form and in a call of several schemas (a transaction).
 */
export function registerFoldedWriteTests(suite: L3Suite, v: VersionsModel): void {
  const l3 = () => suite.l3();
  const items = (ids: readonly string[]) => readRows(l3(), v.items, ids);

  describe('folded writes (replace, since)', () => {
    it('replace: columns the set leaves out take their defaults, the insert-only column its new value', async () => {
      await writeOne(l3(), v.items, set({ id: 'f1', name: 'old', note: 'given', createdAt: FIRST }, 100));
      const [outcome] = await l3().write([
        op(v.items, { row: { id: 'f1', name: 'new', createdAt: LATER }, version: 102, replace: true }),
      ]);
      expect(outcome?.[0]).toMatchObject({ applied: true, version: 102 });
      expect(await items(['f1'])).toEqual([
        { id: 'f1', name: 'new', n: null, note: 'dflt', doc: null, createdAt: LATER },
      ]);
    });

    it('since below the stored version: not applied, row and version untouched', async () => {
      await writeOne(l3(), v.items, set({ id: 'f2', name: 'tx', note: 'tx', createdAt: FIRST }, 205));
      const rows = await items(['f2']);
      const fold = { row: { id: 'f2', name: 'fold', createdAt: LATER }, version: 210, since: 200 };
      expect(await l3().write([op(v.items, fold)])).toEqual([[{ applied: false, version: 210 }]]);
      expect(await items(['f2'])).toEqual(rows);
      await expectVersions(suite, v.items, ['f2'], { f2: [205, false] });
      // The same as part of a call over several schemas (one transaction, several statements).
      const counts = op(v.counts, set({ id: 9001, total: 1n }, 300));
      const [foldOutcomes, countOutcomes] = await l3().write([op(v.items, fold), counts]);
      expect(foldOutcomes).toEqual([{ applied: false, version: 210 }]);
      expect(countOutcomes).toEqual([expect.objectContaining({ applied: true, version: 300 })]);
      expect(await items(['f2'])).toEqual(rows);
    });

    it('a delete among the folded writes (a tombstone after since): not applied', async () => {
      await writeOne(l3(), v.items, set({ id: 'f3', name: 'a', createdAt: FIRST }, 400));
      await writeOne(l3(), v.items, del('f3', 402));
      const fold = { row: { id: 'f3', name: 'fold', createdAt: FIRST }, version: 405, since: 401 };
      expect(await l3().write([op(v.items, fold)])).toEqual([[{ applied: false, version: 405 }]]);
      expect(await items(['f3'])).toEqual([]);
      await expectVersions(suite, v.items, ['f3'], { f3: [402, true] });
    });

    it('since above the stored version (nothing landed among them), or a new key: applied', async () => {
      await writeOne(l3(), v.items, set({ id: 'f4', name: 'a', createdAt: FIRST }, 500));
      const [outcomes] = await l3().write([
        op(
          v.items,
          { row: { id: 'f4', name: 'fold', createdAt: LATER }, version: 510, since: 501 },
          { row: { id: 'f5', name: 'new', createdAt: LATER }, version: 511, since: 506 },
        ),
      ]);
      expect(outcomes).toEqual([
        expect.objectContaining({ applied: true, version: 510 }),
        expect.objectContaining({ applied: true, version: 511 }),
      ]);
      expect((await items(['f4', 'f5'])).map((r) => [r.name, r.createdAt])).toEqual([
        ['fold', FIRST],
        ['new', LATER],
      ]);
      // In a call over several schemas too.
      const [again] = await l3().write([
        op(v.items, { row: { id: 'f4', name: 'fold2' }, version: 520, since: 515 }),
        op(v.counts, set({ id: 9002, total: 2n }, 521)),
      ]);
      expect(again).toEqual([expect.objectContaining({ applied: true, version: 520 })]);
      await expectVersions(suite, v.items, ['f4', 'f5'], { f4: [520, false], f5: [511, false] });
    });
  });
}
