import { expect, it } from 'vitest';
import type { L2Suite } from './l2-conformance.js';
import {
  envelope,
  type OrderedPutKeys,
  pendingIndexKey,
  runOrderedPut,
  runPendingDone,
  runPendingPut,
  runPendingRead,
  runPut,
  runSeedCounter,
} from './l2-helpers.js';

/**
 * The pending index of a write-behind schema (`{version};{kind};{row}` per row key): ORDERED_PUT
 * keeps it for pending writes, PENDING 'read' reads it (bounded), a flush's PUT ('settle') and
 * PENDING 'done' empty it, PENDING 'put' restores it; none takes an entry newer than its own version.
 */
export function describePendingIndexScripts(suite: L2Suite): void {
  const { key } = suite;
  const counters = (name: string): OrderedPutKeys => ({
    counter: key(`${name}:counter`),
    search: key(`${name}:search`),
  });

  it('ORDERED_PUT indexes pending writes only (the row given, else the payload), in the same request', async () => {
    const keys = counters('pi:ordered');
    const index = pendingIndexKey(keys);
    await runSeedCounter(suite.l2, keys.counter, 10);
    const [r, a] = [key('pi:ordered:r'), key('pi:ordered:a')];
    await runOrderedPut(suite.l2, keys, [{ key: r, kind: 'r', payload: 'cached;row' }], { pending: false });
    expect(await runPendingRead(suite.l2, index)).toEqual(new Map());
    const rounds = await suite.roundTrips(() =>
      runOrderedPut(
        suite.l2,
        keys,
        [
          { key: r, kind: 'r', payload: 'cached;row', indexRow: 'whole;row' },
          { key: a, kind: 'a', payload: '' },
        ],
        { pending: true },
      ),
    );
    expect(rounds).toBe(1);
    expect(await runPendingRead(suite.l2, index)).toEqual(
      new Map([
        [r, '12;r;whole;row'],
        [a, '13;a;'],
      ]),
    );
    await runOrderedPut(suite.l2, keys, [{ key: r, kind: 'r', payload: 'newer' }], { pending: true });
    expect((await runPendingRead(suite.l2, index)) as Map<string, string>).toEqual(
      new Map([
        [r, '14;r;newer'],
        [a, '13;a;'],
      ]),
    );
    // Past the bound: the count only.
    expect(await runPendingRead(suite.l2, index, 1)).toBe(2);
  });

  it("a flush's PUT ('settle') and PENDING 'done' take out entries at or below their version, never a newer one", async () => {
    const index = key('pi:settle:index');
    const [x, y, z] = [key('pi:settle:x'), key('pi:settle:y'), key('pi:settle:z')];
    expect(
      await runPendingPut(suite.l2, index, [
        { field: x, value: '5;r;x' },
        { field: y, value: '9;r;y' },
        { field: z, value: '7;a;' },
      ]),
    ).toBe(3);
    // x flushed at 5 (its entry goes), y at 6 (a newer write, 9, stays); the bump after them.
    const bump = key('pi:settle:bump');
    const reply = await runPut(
      suite.l2,
      [
        { key: x, version: 5, value: envelope(5, 'x') },
        { key: y, version: 6, value: envelope(6, 'y') },
      ],
      [bump],
      0,
      index,
    );
    expect(reply).toEqual([1, 1, 0, 1]);
    expect(await suite.raw.get(bump)).toBe('1');
    expect(await runPendingRead(suite.l2, index)).toEqual(
      new Map([
        [y, '9;r;y'],
        [z, '7;a;'],
      ]),
    );
    expect(
      await runPendingDone(suite.l2, index, [
        { field: y, version: 8 },
        { field: z, version: 7 },
      ]),
    ).toBe(1);
    expect(await runPendingRead(suite.l2, index)).toEqual(new Map([[y, '9;r;y']]));
    // PENDING 'put' does not put an older entry over a newer one.
    expect(await runPendingPut(suite.l2, index, [{ field: y, value: '8;r;old' }])).toBe(0);
    expect(await runPendingRead(suite.l2, index)).toEqual(new Map([[y, '9;r;y']]));
    expect(await suite.raw.pttl(index)).toBeGreaterThan(0);
  });
}
