import { expect, it } from 'vitest';
import type { L3Tier, Row, Write, WriteOutcome } from '../src/l3/types.js';
import { del, type L3Suite, otherL3, readRows, set, writeOne } from './l3-conformance-suite.js';
import { expectVersions, type VersionsModel } from './l3-conformance-versions-model.js';

/**
 * Keys whose order differs between UTF-16 units (JS `<`) and code points (Postgres' "C" collation):
 * U+FFFD sorts after U+1F600 by units, before it by code points.
 */
const keys = Array.from({ length: 60 }, (_, i) => [`c${i}`, `c${i}\uFFFD`, `c${i}\u{1F600}`]).flat();

type Who = 'A' | 'B';

/** Concurrent writers of the same keys on different connections: no deadlock, versions in commit order. */
export function registerConcurrencyTests(suite: L3Suite, v: VersionsModel): void {
  const l3 = () => suite.l3();

  it('two Postgres-ordered writers of the same keys, in opposite orders, many rounds: versions follow commit order', {
    timeout: 120_000,
  }, async () => {
    // B writes through another L3 with small statements where the fixture allows it: its versions go
    // in several statements of one transaction, locked in the same order as A's single statement.
    const other = otherL3(suite, { maxParameters: 64 }) ?? l3();
    const versions = new Map(keys.map((k) => [k, 0]));
    for (let round = 0; round < 12; round++) {
      // Each of A and B writes in one statement or, with two kinds of writes, in a transaction; the
      // rounds go through every pairing. Keys a round leaves deleted are new again in the next.
      const [transactionA, transactionB] = [
        [false, true],
        [false, false],
        [true, false],
      ][round % 3]!;
      const rowOf = (who: Who, id: string): Row => ({ id, name: `${who}${round}`, n: round });
      // A: sets, ascending; two shapes make it a transaction.
      const writesA = keys.map((id, i) =>
        set(transactionA && i % 2 === 0 ? { ...rowOf('A', id), note: 'A' } : rowOf('A', id)),
      );
      // B: deletes, descending; deletes and sets make it a transaction.
      const writesB = [...keys]
        .reverse()
        .map((id, i) => (transactionB && i % 2 === 1 ? set(rowOf('B', id)) : del(id)));
      const run = (tier: L3Tier, writes: Write[]) =>
        writeOne(tier, v.items, ...writes).then((outcomes) => keyed(writes, outcomes));
      const [a, b] = await Promise.all([run(l3(), writesA), run(other, writesB)]);
      const stored = new Map((await readRows(l3(), v.items, keys)).map((row) => [row.id as string, row]));
      for (const id of keys) {
        const before = versions.get(id)!;
        const [oa, ob] = [a.get(id)!, b.get(id)!];
        expect(oa.outcome.applied && ob.outcome.applied, id).toBe(true);
        // Each writer moved the key on by one, in the order they committed.
        expect(
          [oa.outcome.version, ob.outcome.version].sort((x, y) => x - y),
          id,
        ).toEqual([before + 1, before + 2]);
        const last = oa.outcome.version > ob.outcome.version ? oa : ob;
        expect(stored.get(id), `${id} round ${round}`).toEqual(
          last.write.row ? expect.objectContaining(last.write.row) : undefined,
        );
        versions.set(id, before + 2);
      }
    }
    const read = await l3().findMany(v.items, keys);
    for (const { row, version } of read) expect(version).toBe(versions.get(row.id as string));
  });

  it('a newer Redis-ordered delete racing an older set of a new key: the row is gone whichever commits first', {
    timeout: 60_000,
  }, async () => {
    for (let round = 0; round < 10; round++) {
      const ids = keys.map((k) => `${k}r${round}`);
      const [sets, deletes] = await Promise.all([
        writeOne(l3(), v.items, ...ids.map((id) => set({ id, name: 'late set' }, 1))),
        writeOne(l3(), v.items, ...[...ids].reverse().map((id) => del(id, 2))),
      ]);
      expect(deletes.every((o) => o.applied && o.version === 2)).toBe(true);
      // The set landed only where it committed first; the delete then found its row.
      const landed = sets.filter((o) => o.applied).length;
      expect(deletes.filter((o) => o.existed).length).toBe(landed);
      expect(await l3().findMany(v.items, ids)).toEqual([]);
    }
  });

  it('concurrent Redis-ordered calls with interleaved versions for the same keys end with each key’s newest row', {
    timeout: 60_000,
  }, async () => {
    // Listed in opposite orders, they would deadlock (40P01) unless every call locks keys in one order.
    const ids = Array.from({ length: 3_000 }, (_, k) => 1_000 + k);
    for (let round = 0; round < 4; round++) {
      const base = round * 10;
      // 'one' is newer on even keys, 'two' on odd ones; 'two' lists the keys in reverse.
      const versionOf = (who: 'one' | 'two', id: number) =>
        base + ((id % 2 === 0) === (who === 'one') ? 2 : 1);
      const call = (who: 'one' | 'two', list: readonly number[]) =>
        writeOne(
          l3(),
          v.counts,
          ...list.map((id) => set({ id, total: BigInt(versionOf(who, id)), by: who }, versionOf(who, id))),
        );
      const [one, two] = await Promise.all([call('one', ids), call('two', [...ids].reverse())]);
      // Whichever ran first, the newest write of every key was applied.
      ids.forEach((id, i) => {
        const newest = id % 2 === 0 ? one[i] : two[ids.length - 1 - i];
        expect(newest).toMatchObject({ applied: true, version: base + 2 });
      });
      const stored = await readRows(l3(), v.counts, ids);
      expect(stored).toEqual(
        ids.map((id) => ({ id, total: BigInt(base + 2), by: id % 2 === 0 ? 'one' : 'two' })),
      );
    }
    const expected = Object.fromEntries(ids.map((id) => [String(id), [32, false] as const]));
    await expectVersions(suite, v.counts, Object.keys(expected), expected);
  });
}

/** Each key's write and outcome. */
function keyed(writes: readonly Write[], outcomes: readonly WriteOutcome[]) {
  return new Map(
    writes.map((write, i) => [(write.row?.id ?? write.id) as string, { write, outcome: outcomes[i]! }]),
  );
}
