import { expect, it } from 'vitest';
import { RELAY_RELEASE, RELAY_STORE, RELAY_TAKE } from '../src/l2/relay-scripts.js';
import { PUT } from '../src/l2/scripts.js';
import type { L2Suite } from './l2-conformance.js';
import { envelope, generationKey, runMark, runPut, tickKey } from './l2-helpers.js';

/** MARK (superseded markers of changes made outside Strata) and the change relay's lease and cursor. */
export function describeMarkScripts(suite: L2Suite): void {
  const { key } = suite;
  const stored = async (...suffixes: string[]) => suite.l2.getMany(suffixes.map(key));
  const marker = (version: number) => envelope(version, '', { kind: 'x' });

  it('MARK sets the marker over nothing, an older row, a tombstone and a foreign value; counts them', async () => {
    await runPut(suite.l2, [
      { key: key('mark:older'), version: 4, value: envelope(4, 'v4') },
      { key: key('mark:absent'), version: 4, value: envelope(4, '', { kind: 'a' }) },
    ]);
    await suite.raw.set(key('mark:foreign'), 'not ours');
    const reply = await runMark(
      suite.l2,
      ['mark:empty', 'mark:older', 'mark:absent', 'mark:foreign'].map((k) => ({
        key: key(k),
        version: 5,
        value: marker(5),
      })),
    );
    expect(reply).toEqual([4]);
    expect(await stored('mark:empty', 'mark:older', 'mark:absent', 'mark:foreign')).toEqual(
      Array(4).fill(marker(5)),
    );
  });

  it('MARK keeps a key holding its version or a newer one, a pending write-behind row among them; marks an older pending row', async () => {
    const pendingNewer = envelope(6, 'not flushed', { pending: true });
    await runPut(suite.l2, [
      { key: key('mark:keep:equal'), version: 5, value: envelope(5, 'the refreshed read') },
      { key: key('mark:keep:newer'), version: 6, value: envelope(6, 'v6') },
      { key: key('mark:keep:pending'), version: 6, value: pendingNewer },
      {
        key: key('mark:pending:older'),
        version: 2,
        value: envelope(2, 'flushed, settle on its way', { pending: true }),
      },
    ]);
    const reply = await runMark(
      suite.l2,
      ['mark:keep:equal', 'mark:keep:newer', 'mark:keep:pending', 'mark:pending:older'].map((k) => ({
        key: key(k),
        version: 5,
        value: marker(5),
      })),
    );
    expect(reply).toEqual([1]);
    // A pending row below the change's version is in Postgres (or lost to a newer write): the
    // change came after it (reliability/test/probe-capture-flush-race.test.ts).
    expect(
      await stored('mark:keep:equal', 'mark:keep:newer', 'mark:keep:pending', 'mark:pending:older'),
    ).toEqual([envelope(5, 'the refreshed read'), envelope(6, 'v6'), pendingNewer, marker(5)]);
    // A second mark at the same version is the same change: nothing moves.
    await runMark(suite.l2, [{ key: key('mark:keep:twice'), version: 3, value: marker(3) }]);
    expect(await runMark(suite.l2, [{ key: key('mark:keep:twice'), version: 3, value: marker(3) }])).toEqual([
      0,
    ]);
  });

  it("a flush's settle (PUT 'settle') replaces its own version's pending copy, never a marker or a fill of that version", async () => {
    const index = key('mark:settle:index');
    const [own, marked, filled] = [
      key('mark:settle:own'),
      key('mark:settle:marked'),
      key('mark:settle:filled'),
    ];
    await runPut(suite.l2, [
      { key: own, version: 4, value: envelope(4, 'as sent', { pending: true }) },
      { key: marked, version: 4, value: marker(4) },
      { key: filled, version: 4, value: envelope(4, 'read from Postgres after an outside write') },
    ]);
    const settle = [own, marked, filled].map((k) => ({
      key: k,
      version: 4,
      value: envelope(4, 'as flushed'),
    }));
    expect(await runPut(suite.l2, settle, [], 0, index)).toEqual([1, 0, 0, 0]);
    expect(await suite.l2.getMany([own, marked, filled])).toEqual([
      envelope(4, 'as flushed'),
      marker(4),
      envelope(4, 'read from Postgres after an outside write'),
    ]);
    // A writer's commit ('commit': write-through, a transaction) keeps the marker of its version too.
    const [pendingCopy, markedToo] = [key('mark:commit:pending'), key('mark:commit:marked')];
    await runPut(suite.l2, [
      { key: pendingCopy, version: 4, value: envelope(4, 'as sent', { pending: true }) },
      { key: markedToo, version: 4, value: marker(4) },
    ]);
    const commit = [pendingCopy, markedToo].map((k) => ({
      key: k,
      version: 4,
      value: envelope(4, 'committed'),
    }));
    const reply = (await suite.l2.run(
      PUT,
      [tickKey(pendingCopy), generationKey(pendingCopy), pendingCopy, markedToo],
      ['0', '2', ...commit.flatMap((e) => [String(e.version), '0', e.value]), 'commit'],
    )) as unknown[];
    expect(reply.slice(2)).toEqual([1, 0]);
    expect(await suite.l2.getMany([pendingCopy, markedToo])).toEqual([envelope(4, 'committed'), marker(4)]);
    // A fill (no last ARGV) at the marker's version lands: it read Postgres after the change.
    expect(await runPut(suite.l2, [{ key: marked, version: 4, value: envelope(4, 'a read') }])).toEqual([1]);
  });

  it('a marker orders later fills: PUT of an older version is refused, of its version or newer lands', async () => {
    await runMark(suite.l2, [{ key: key('mark:order'), version: 8, value: marker(8) }]);
    expect(
      await runPut(suite.l2, [{ key: key('mark:order'), version: 7, value: envelope(7, 'old read') }]),
    ).toEqual([0]);
    expect(await stored('mark:order')).toEqual([marker(8)]);
    expect(
      await runPut(suite.l2, [{ key: key('mark:order'), version: 8, value: envelope(8, 'new read') }]),
    ).toEqual([1]);
    expect(await stored('mark:order')).toEqual([envelope(8, 'new read')]);
  });

  it('MARK sets PX ttlMs (0: none), INCRs the bumps, and refuses another generation', async () => {
    await runMark(suite.l2, [{ key: key('mark:ttl'), version: 1, value: marker(1) }], { ttlMs: 60_000 });
    const ttl = await suite.raw.pttl(key('mark:ttl'));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await runMark(suite.l2, [{ key: key('mark:nottl'), version: 1, value: marker(1) }]);
    expect(await suite.raw.pttl(key('mark:nottl'))).toBe(-1);
    await suite.raw.set(key('mark:bump'), '9');
    expect(
      await runMark(suite.l2, [{ key: key('mark:bumped'), version: 1, value: marker(1) }], {
        bumps: [key('mark:bump')],
      }),
    ).toEqual([1, 10]);
    const gen = generationKey(key('mark:gen'));
    const before = await suite.raw.get(gen);
    await suite.raw.set(gen, '3');
    expect(
      await runMark(suite.l2, [{ key: key('mark:gen'), version: 1, value: marker(1) }], { generation: 2 }),
    ).toEqual([-4, 3]);
    expect(await stored('mark:gen')).toEqual([null]);
    await suite.raw.set(gen, before ?? '0');
  });

  it('RELAY_TAKE / RELAY_STORE / RELAY_RELEASE: one holder at a time, the cursor stored only by the holder', async () => {
    const keys = [key('relay:lease'), key('relay:cursor'), key('relay:at')];
    const take = (holder: string, now: number, interval: number) =>
      suite.l2.run(RELAY_TAKE, keys, [holder, '60000', String(now), String(interval)]);
    expect(await take('a', 1_000, 500)).toEqual([1, 0]);
    expect(await take('b', 1_000, 500)).toEqual([0, 0]);
    expect(await suite.l2.run(RELAY_STORE, keys, ['b', 'c1', '1000'])).toBe(0);
    expect(await suite.l2.run(RELAY_STORE, keys, ['a', 'c1', '1000'])).toBe(1);
    expect(await suite.raw.get(key('relay:lease'))).toBeNull();
    // The cursor moved at 1000: not due before 1500 unless forced (interval 0).
    expect(await take('b', 1_200, 500)).toEqual([-1, 1000]);
    expect(await take('b', 1_600, 500)).toEqual([1, 1000, 'c1']);
    expect(await suite.l2.run(RELAY_RELEASE, keys, ['a'])).toBe(0);
    expect(await suite.l2.run(RELAY_RELEASE, keys, ['b'])).toBe(1);
    expect(await take('a', 1_300, 0)).toEqual([1, 1000, 'c1']);
    const ttl = await suite.raw.pttl(key('relay:lease'));
    expect(ttl).toBeGreaterThan(50_000);
    expect(await suite.l2.run(RELAY_RELEASE, keys, ['a'])).toBe(1);
    // A move within an interval ahead of this clock is a recent one; further ahead, a clock that
    // ran ahead of this one stored it: due.
    expect(await take('b', 600, 500)).toEqual([-1, 1000]);
    expect(await take('b', 500, 500)).toEqual([1, 1000, 'c1']);
  });
}
