import { expect, it } from 'vitest';
import type { L2Suite } from './l2-conformance.js';
import {
  envelope,
  type OrderedPutKeys,
  pendingIndexKey,
  runOrderedPut,
  runPendingDone,
  runPendingPeek,
  runPendingPut,
  runPendingRead,
  runPut,
  runReserve,
  runReserveMarking,
  runSeedCounter,
  runUnmark,
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
        { field: y, value: '9;r;y', names: '["d"]' },
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
    // An entry PENDING 'put' restored comes under a come-back mark (`?`, its version + 1: a write
    // reserved after the Redis reset found nothing to mark); x's goes with it. y's defaults are named
    // at its version (`+`), as ORDERED_PUT names them: a peek reads its entry with them.
    expect(await runPendingRead(suite.l2, index)).toEqual(
      new Map([
        [y, '9;r;y'],
        [z, '7;a;'],
        [`?${y}`, '10'],
        [`?${z}`, '8'],
        [`+${y}`, '9:["d"]'],
      ]),
    );
    expect((await runPendingPeek(suite.l2, index, [y]))[1]).toBe('9;d;["d"];y');
    expect(
      await runPendingDone(suite.l2, index, [
        { field: y, version: 8 },
        { field: z, version: 7 },
      ]),
    ).toBe(1);
    const left = new Map([
      [y, '9;r;y'],
      [`?${y}`, '10'],
      [`+${y}`, '9:["d"]'],
    ]);
    expect(await runPendingRead(suite.l2, index)).toEqual(left);
    // PENDING 'put' does not put an older entry over a newer one.
    expect(await runPendingPut(suite.l2, index, [{ field: y, value: '8;r;old', names: '["e"]' }])).toBe(0);
    expect(await runPendingRead(suite.l2, index)).toEqual(left);
    expect(await suite.raw.pttl(index)).toBeGreaterThan(0);
  });

  it("a partial write's compare-and-set: PENDING 'peek', ORDERED_PUT and RESERVE with expected versions", async () => {
    const keys = counters('pi:cas');
    const index = pendingIndexKey(keys);
    await runSeedCounter(suite.l2, keys.counter, 20);
    const [k, none] = [key('pi:cas:k'), key('pi:cas:none')];
    expect(
      await runOrderedPut(suite.l2, keys, [{ key: k, kind: 'r', payload: 'v1' }], { pending: true }),
    ).toEqual([21, 1, 0]);
    // Its value and index entry, and nil for a key that holds neither.
    const peeked = await runPendingPeek(suite.l2, index, [k, none]);
    expect(peeked).toHaveLength(4);
    expect(String(peeked[0])).toMatch(/^~1;r;1;21;/);
    expect(peeked[1]).toBe('21;r;v1');
    expect(peeked.slice(2).map((v) => v ?? null)).toEqual([null, null]);
    // Another version expected: refused, nothing written, no version taken.
    const write = (expected: string[]) =>
      runOrderedPut(
        suite.l2,
        keys,
        [
          { key: k, kind: 'r', payload: 'v2' },
          { key: none, kind: 'r', payload: 'n' },
        ],
        { pending: true, expected },
      );
    expect(await write(['20', '0'])).toEqual([-5]);
    expect(await write(['21', '22'])).toEqual([-5]);
    expect(await runPendingRead(suite.l2, index)).toEqual(new Map([[k, '21;r;v1']]));
    expect(await suite.raw.get(keys.counter)).toBe('21');
    // The versions held ('0' for none; '' for any): written.
    expect(await write(['21', '0'])).toEqual([22, 2, 1, 0]);
    expect(await write(['', '23'])).toEqual([24, 3, 1, 1]);
    // RESERVE takes no version while a key holds another than expected.
    expect(await runReserve(suite.l2, keys.counter, 2, 0, [[k, '22']])).toEqual([-5]);
    expect(await runReserve(suite.l2, keys.counter, 2, 0, [[none, '0']])).toEqual([-5]);
    expect(await suite.raw.get(keys.counter)).toBe('25');
    expect(
      await runReserve(suite.l2, keys.counter, 2, 0, [
        [k, '24'],
        [key('pi:cas:absent'), '0'],
      ]),
    ).toEqual([26]);
  });

  it("a reservation's marks: PENDING 'peek' with marks, ORDERED_PUT's '^', UNMARK, and 'done'", async () => {
    const keys = counters('pi:mark');
    const index = pendingIndexKey(keys);
    await runSeedCounter(suite.l2, keys.counter, 30);
    const [k, clean] = [key('pi:mark:k'), key('pi:mark:clean')];
    expect(
      await runOrderedPut(suite.l2, keys, [{ key: k, kind: 'r', payload: 'v1' }], { pending: true }),
    ).toEqual([31, 1, 0]);
    // A reservation of k (32) and of a key with no entry (33): only k is marked.
    expect(await runReserveMarking(suite.l2, keys.counter, index, [k, clean])).toEqual([32]);
    expect(await runPendingPeek(suite.l2, index, [k], true)).toEqual([
      expect.stringMatching(/^~1;r;1;31;/),
      // Carried: the mark, then the entry it covers (a write-behind set lays it beneath its own).
      '31;c;32;31;r;v1',
    ]);
    expect((await runPendingPeek(suite.l2, index, [k]))[1]).toBe('31;r;v1');
    // 'read' returns the mark too (a field that names no row key: a search skips it).
    expect(await runPendingRead(suite.l2, index)).toEqual(
      new Map([
        [k, '31;r;v1'],
        [`#${k}`, '32'],
      ]),
    );
    // A write carrying k's queued columns ('^') is refused while marked; one carrying none is not.
    const put = (expected: string) =>
      runOrderedPut(suite.l2, keys, [{ key: k, kind: 'r', payload: 'v2' }], {
        pending: true,
        expected: [expected],
      });
    expect(await put('31^')).toEqual([-5]);
    // Taken back at another version: kept; at its own: gone, and the carrying write goes.
    await runUnmark(suite.l2, index, [k], [31]);
    expect(await put('31^')).toEqual([-5]);
    await runUnmark(suite.l2, index, [k], [32]);
    expect((await runPendingPeek(suite.l2, index, [k], true))[1]).toBe('31;r;v1');
    expect(await put('31^')).toEqual([34, 2, 1]);
    // A mark goes with its entry when the entry is done.
    expect(await runReserveMarking(suite.l2, keys.counter, index, [k])).toEqual([35]);
    expect(await runPendingDone(suite.l2, index, [{ field: k, version: 34 }])).toBe(1);
    expect(await runPendingRead(suite.l2, index)).toEqual(new Map());
  });

  it('two reservations mark one queued write: UNMARK of one leaves the other marked, in either order', async () => {
    const keys = counters('pi:two');
    const index = pendingIndexKey(keys);
    await runSeedCounter(suite.l2, keys.counter, 40);
    const k = key('pi:two:k');
    await runOrderedPut(suite.l2, keys, [{ key: k, kind: 'r', payload: 'v1' }], { pending: true }); // 41
    const marked = async () => (await runPendingPeek(suite.l2, index, [k], true))[1];
    const fields = async () => [...((await runPendingRead(suite.l2, index)) as Map<string, string>).keys()];
    for (const [first, second] of [
      [42, 43],
      [45, 44],
    ]) {
      // Both reserve (in version order); Postgres refuses `first`: `second` still supersedes 41.
      expect(await runReserveMarking(suite.l2, keys.counter, index, [k])).toEqual([
        Math.min(first!, second!),
      ]);
      expect(await runReserveMarking(suite.l2, keys.counter, index, [k])).toEqual([
        Math.max(first!, second!),
      ]);
      await runUnmark(suite.l2, index, [k], [first!]);
      expect(await marked()).toBe(`41;c;${second};41;r;v1`);
      await runUnmark(suite.l2, index, [k], [second!]);
      expect(await marked()).toBe('41;r;v1');
      // Nothing of the marks is left (a search's bound counts the index's fields).
      expect(await fields()).toEqual([k]);
    }
    // The list of marks goes with its entry when the entry is done.
    await runReserveMarking(suite.l2, keys.counter, index, [k]);
    await runReserveMarking(suite.l2, keys.counter, index, [k]);
    expect((await fields()).sort()).toEqual([k, `#${k}`, `!${k}`].sort());
    expect(await runPendingDone(suite.l2, index, [{ field: k, version: 41 }])).toBe(1);
    expect(await runPendingRead(suite.l2, index)).toEqual(new Map());
  });
  it("a row's client defaults: named beside its entry (`+`), read with it by PENDING 'peek', taken out with it", async () => {
    const keys = counters('pi:names');
    const index = pendingIndexKey(keys);
    await runSeedCounter(suite.l2, keys.counter, 50);
    const [k, plain] = [key('pi:names:k'), key('pi:names:plain')];
    const names = ['d', 'e];x'];
    // A key's name may hold `];` itself: the names end at the `];` that closes their JSON array.
    const named = `51;d;${JSON.stringify(names)};v;1`;
    await runOrderedPut(
      suite.l2,
      keys,
      [
        { key: k, kind: 'r', payload: 'v;1', defaults: names },
        { key: plain, kind: 'r', payload: 'p' },
      ],
      { pending: true },
    );
    // Stored apart (an older Strata reads the entry as it did: its row, defaults as values).
    expect(await runPendingRead(suite.l2, index)).toEqual(
      new Map([
        [k, '51;r;v;1'],
        [`+${k}`, `51:${JSON.stringify(names)}`],
        [plain, '52;r;p'],
      ]),
    );
    expect((await runPendingPeek(suite.l2, index, [k, plain])).filter((_, i) => i % 2 === 1)).toEqual([
      named,
      '52;r;p',
    ]);
    // Under a mark, the entry it covers reads with its names too.
    expect(await runReserveMarking(suite.l2, keys.counter, index, [k])).toEqual([53]);
    expect((await runPendingPeek(suite.l2, index, [k], true))[1]).toBe(`51;c;53;${named}`);
    await runUnmark(suite.l2, index, [k], [53]);
    // A newer entry without names (an older Strata's, or a row with no defaults): the names of the
    // older version are not read. A flush's 'done' takes them out with the entry.
    await runOrderedPut(suite.l2, keys, [{ key: k, kind: 'r', payload: 'v2' }], { pending: true });
    expect((await runPendingPeek(suite.l2, index, [k]))[1]).toBe('54;r;v2');
    expect((await runPendingPeek(suite.l2, index, [k], true))[1]).toBe('54;r;v2');
    expect(await runPendingDone(suite.l2, index, [{ field: k, version: 54 }])).toBe(1);
    expect(await runPendingRead(suite.l2, index)).toEqual(new Map([[plain, '52;r;p']]));
    // So does a flush's PUT ('settle').
    await runOrderedPut(suite.l2, keys, [{ key: k, kind: 'r', payload: 'v3', defaults: ['d'] }], {
      pending: true,
    });
    expect((await runPendingPeek(suite.l2, index, [k]))[1]).toBe('55;d;["d"];v3');
    await runPut(suite.l2, [{ key: k, version: 55, value: envelope(55, 'v3') }], [], 0, index);
    expect(await runPendingRead(suite.l2, index)).toEqual(new Map([[plain, '52;r;p']]));
  });
  it('the writes a set goes beneath: kept beside its entry (`<`) as given, put back with it, taken out with it', async () => {
    const keys = counters('pi:under');
    const index = pendingIndexKey(keys);
    await runSeedCounter(suite.l2, keys.counter, 60);
    const k = key('pi:under:k');
    // As the engine writes it: not JSON, which a client deserializing replies would turn into an object.
    const under = `u${JSON.stringify({ below: 58, row: 'b;1', defaults: ['d'] })}`;
    await runOrderedPut(suite.l2, keys, [{ key: k, kind: 'r', payload: 'v1', under }], { pending: true });
    // Apart from the entry, which reads as it did (a later partial set carries only its columns).
    expect(await runPendingRead(suite.l2, index)).toEqual(
      new Map([
        [k, '61;r;v1'],
        [`<${k}`, under],
      ]),
    );
    expect((await runPendingPeek(suite.l2, index, [k], true))[1]).toBe('61;r;v1');
    // A later write with none beneath keeps it: the flush still applies it beneath that write's fold.
    await runOrderedPut(suite.l2, keys, [{ key: k, kind: 'r', payload: 'v2' }], { pending: true });
    expect((await runPendingRead(suite.l2, index)) as Map<string, string>).toEqual(
      new Map([
        [k, '62;r;v2'],
        [`<${k}`, under],
      ]),
    );
    // 'done' takes it out with its entry; 'put' (a Redis reset) puts it back with it.
    expect(await runPendingDone(suite.l2, index, [{ field: k, version: 62 }])).toBe(1);
    expect(await runPendingRead(suite.l2, index)).toEqual(new Map());
    expect(await runPendingPut(suite.l2, index, [{ field: k, value: '61;r;v1', under }])).toBe(1);
    expect(await runPendingRead(suite.l2, index)).toEqual(
      new Map([
        [k, '61;r;v1'],
        [`?${k}`, '62'],
        [`<${k}`, under],
      ]),
    );
    // So does a flush's PUT ('settle').
    await runPut(suite.l2, [{ key: k, version: 61, value: envelope(61, 'v1') }], [], 0, index);
    expect(await runPendingRead(suite.l2, index)).toEqual(new Map());
  });
}
