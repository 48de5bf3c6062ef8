import { expect, it } from 'vitest';
import { decodeEnvelope, EXPIRED_AT } from '../src/l2/envelope.js';
import type { L2Suite } from './l2-conformance.js';
import { envelope, FLOOR_TTL_MS, floorMarker, runDrop, runPut } from './l2-helpers.js';

/** Values a Strata reader does not understand: another format, or a header this one cannot read. */
const FOREIGN_VALUES: readonly string[] = [
  'plain text',
  '{"id":"p1","version":999}',
  '999',
  '',
  '~2;r;0;999;0;0;owner;a later format',
  '~1;r;0;not-a-version;0;0;owner;payload',
  '~1;x',
];

/** PUT (conditional writes + bumps) and DROP (conditional deletes + bumps), through the tier. */
export function describeWriteScripts(suite: L2Suite): void {
  const { key } = suite;
  const stored = async (...suffixes: string[]) => suite.l2.getMany(suffixes.map(key));

  it('PUT writes a key that holds nothing', async () => {
    const value = envelope(3, '{"id":"p1"}');
    expect(await runPut(suite.l2, [{ key: key('put:absent'), version: 3, value }])).toEqual([1]);
    expect(await stored('put:absent')).toEqual([value]);
  });

  it('PUT replaces an older version and an equal one (the same write, e.g. as the flush applied it)', async () => {
    await runPut(suite.l2, [{ key: key('put:older'), version: 5, value: envelope(5, 'v5') }]);
    expect(await runPut(suite.l2, [{ key: key('put:older'), version: 6, value: envelope(6, 'v6') }])).toEqual(
      [1],
    );
    expect(await stored('put:older')).toEqual([envelope(6, 'v6')]);
    const applied = envelope(6, 'v6 as applied, with defaults');
    expect(await runPut(suite.l2, [{ key: key('put:older'), version: 6, value: applied }])).toEqual([1]);
    expect(await stored('put:older')).toEqual([applied]);
    // Whatever the kind or pending flag: the version alone orders writes.
    const tombstone = envelope(7, '', { kind: 'a', pending: true });
    expect(await runPut(suite.l2, [{ key: key('put:older'), version: 7, value: tombstone }])).toEqual([1]);
    expect(await stored('put:older')).toEqual([tombstone]);
  });

  it('PUT refuses to replace a newer version: reply 0, value and TTL unchanged', async () => {
    const newer = envelope(9, 'v9', { pending: true });
    await runPut(suite.l2, [{ key: key('put:newer'), version: 9, value: newer }]);
    expect(
      await runPut(suite.l2, [
        { key: key('put:newer'), version: 8, ttlMs: 60_000, value: envelope(8, 'v8') },
      ]),
    ).toEqual([0]);
    expect(await stored('put:newer')).toEqual([newer]);
    expect(await suite.raw.pttl(key('put:newer'))).toBe(-1);
    // A tombstone's version counts the same: an older row never lands over a newer delete.
    const deleted = envelope(20, '', { kind: 'a' });
    await runPut(suite.l2, [{ key: key('put:newer'), version: 20, value: deleted }]);
    expect(
      await runPut(suite.l2, [{ key: key('put:newer'), version: 19, value: envelope(19, 'late') }]),
    ).toEqual([0]);
    expect(await stored('put:newer')).toEqual([deleted]);
  });

  it('PUT replaces a value in another format, whatever version it seems to hold', async () => {
    const keys = FOREIGN_VALUES.map((_, i) => `put:foreign:${i}`);
    await Promise.all(FOREIGN_VALUES.map((value, i) => suite.raw.set(key(keys[i]!), value)));
    expect(await Promise.all(keys.map((k) => suite.raw.get(key(k))))).toEqual(FOREIGN_VALUES);
    const reply = await runPut(
      suite.l2,
      keys.map((k) => ({ key: key(k), version: 1, value: envelope(1, 'ours') })),
    );
    expect(reply).toEqual(keys.map(() => 1));
    expect(await stored(...keys)).toEqual(keys.map(() => envelope(1, 'ours')));
  });

  it('PUT with TTL 0 sets no expiry (and clears an earlier one); a TTL > 0 sets PX', async () => {
    const k = key('put:ttl');
    await runPut(suite.l2, [{ key: k, version: 1, ttlMs: 0, value: envelope(1, 'forever') }]);
    expect(await suite.raw.pttl(k)).toBe(-1);
    await runPut(suite.l2, [{ key: k, version: 2, ttlMs: 60_000, value: envelope(2, 'a minute') }]);
    const ttl = await suite.raw.pttl(k);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await runPut(suite.l2, [{ key: k, version: 3, ttlMs: 0, value: envelope(3, 'forever again') }]);
    expect(await suite.raw.pttl(k)).toBe(-1);
    await runPut(suite.l2, [{ key: k, version: 4, ttlMs: 1_500, value: envelope(4, 'short') }]);
    const short = await suite.raw.pttl(k);
    expect(short).toBeGreaterThan(0);
    expect(short).toBeLessThanOrEqual(1_500);
  });

  it('PUT INCRs the bump keys in the same call and replies their values after the per-entry flags', async () => {
    await suite.raw.set(key('put:bump:b'), '41');
    await runPut(suite.l2, [{ key: key('put:bump:newer'), version: 10, value: envelope(10, 'v10') }]);
    const reply = await runPut(
      suite.l2,
      [
        { key: key('put:bump:x'), version: 1, value: envelope(1, 'x') },
        { key: key('put:bump:newer'), version: 2, value: envelope(2, 'stale') },
        { key: key('put:bump:y'), version: 1, ttlMs: 60_000, value: envelope(1, 'y') },
      ],
      [key('put:bump:a'), key('put:bump:b')],
    );
    expect(reply).toEqual([1, 0, 1, 1, 42]);
    // A bump moves even when every entry is refused, and alone.
    expect(
      await runPut(
        suite.l2,
        [{ key: key('put:bump:newer'), version: 3, value: envelope(3, 'stale') }],
        [key('put:bump:a')],
      ),
    ).toEqual([0, 2]);
    expect(await runPut(suite.l2, [], [key('put:bump:a'), key('put:bump:b')])).toEqual([3, 43]);
    expect(await suite.raw.get(key('put:bump:a'))).toBe('3');
  });

  it('PUT is atomic: a concurrent MGET sees all entries of a call or none of them', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => key(`put:atomic:${i}`));
    const write = (version: number) =>
      runPut(
        suite.l2,
        keys.map((k) => ({ key: k, version, value: envelope(version, `batch ${version}`) })),
      );
    await write(0);
    const reads: Promise<(string | null)[]>[] = [];
    const writes: Promise<unknown>[] = [];
    for (let version = 1; version <= 30; version++) {
      writes.push(write(version));
      reads.push(suite.l2.getMany(keys));
    }
    // Requests may reach Redis out of order, refusing a late older batch: whole, never in part.
    for (const reply of (await Promise.all(writes)) as number[][]) expect(new Set(reply).size).toBe(1);
    for (const snapshot of await Promise.all(reads)) {
      expect(new Set(snapshot).size).toBe(1);
    }
    expect(new Set(await suite.l2.getMany(keys))).toEqual(new Set([envelope(30, 'batch 30')]));
  });

  it("DROP 'all' leaves a version floor for a row, deletes a pending row and a foreign value, and counts them", async () => {
    await runPut(suite.l2, [
      { key: key('drop:all:row'), version: 1, value: envelope(1, 'row') },
      { key: key('drop:all:pending'), version: 2, value: envelope(2, 'pending', { pending: true }) },
    ]);
    await suite.raw.set(key('drop:all:foreign'), 'not ours');
    const reply = await runDrop(
      suite.l2,
      ['drop:all:row', 'drop:all:pending', 'drop:all:foreign', 'drop:all:missing'].map((k) => ({
        key: key(k),
        rule: 'all',
      })),
    );
    expect(reply).toEqual([3]);
    expect(await stored('drop:all:row', 'drop:all:pending', 'drop:all:foreign')).toEqual([
      floorMarker(1),
      null,
      null,
    ]);
    const ttl = await suite.raw.pttl(key('drop:all:row'));
    expect(ttl).toBeGreaterThan(FLOOR_TTL_MS - 10_000);
    expect(ttl).toBeLessThanOrEqual(FLOOR_TTL_MS);
  });

  it("DROP 'unlessPending' keeps a pending write-behind row; a flushed row and a tombstone leave their version floor, a foreign value goes", async () => {
    const pending = envelope(5, 'not in Postgres yet', { pending: true });
    await runPut(suite.l2, [
      { key: key('drop:unless-pending:pending'), version: 5, value: pending },
      { key: key('drop:unless-pending:row'), version: 5, value: envelope(5, 'flushed') },
      { key: key('drop:unless-pending:absent'), version: 5, value: envelope(5, '', { kind: 'a' }) },
    ]);
    await suite.raw.set(key('drop:unless-pending:foreign'), '~1;r;1;');
    const reply = await runDrop(
      suite.l2,
      [
        'drop:unless-pending:pending',
        'drop:unless-pending:row',
        'drop:unless-pending:absent',
        'drop:unless-pending:foreign',
        'drop:unless-pending:missing',
      ].map((k) => ({ key: key(k), rule: 'unlessPending' })),
    );
    expect(reply).toEqual([3]);
    expect(
      await stored(
        'drop:unless-pending:pending',
        'drop:unless-pending:row',
        'drop:unless-pending:absent',
        'drop:unless-pending:foreign',
      ),
    ).toEqual([pending, floorMarker(5), floorMarker(5), null]);
    // The floor refuses a late fill of anything older (a read that began before the drop, a
    // lagging replica's row), and takes the row again at its version or newer.
    expect(
      await runPut(suite.l2, [
        { key: key('drop:unless-pending:row'), version: 4, value: envelope(4, 'older') },
        { key: key('drop:unless-pending:absent'), version: 5, value: envelope(5, '', { kind: 'a' }) },
      ]),
    ).toEqual([0, 1]);
    expect(await stored('drop:unless-pending:row')).toEqual([floorMarker(5)]);
  });

  it("DROP 'expire' rewrites a row's expiry and fresh end to EXPIRED_AT keeping its TTL and payload; a tombstone leaves its floor; keeps a pending row", async () => {
    const payload = 'a;b~1;r;0;9;9;9;9;x\nline two';
    const pending = envelope(5, 'not in Postgres yet', { pending: true });
    await runPut(suite.l2, [
      {
        key: key('drop:expire:row'),
        version: 7,
        ttlMs: 60_000,
        value: envelope(7, payload, {
          generation: 3,
          expiresAt: 1_900_000_000_000,
          freshUntil: 1_900_000_000_000,
        }),
      },
      { key: key('drop:expire:pending'), version: 5, value: pending },
      { key: key('drop:expire:absent'), version: 5, value: envelope(5, '', { kind: 'a' }) },
    ]);
    const reply = await runDrop(
      suite.l2,
      ['drop:expire:row', 'drop:expire:pending', 'drop:expire:absent', 'drop:expire:missing'].map((k) => ({
        key: key(k),
        rule: 'expire' as const,
      })),
    );
    expect(reply).toEqual([2]);
    const [row, kept, absent] = await stored('drop:expire:row', 'drop:expire:pending', 'drop:expire:absent');
    expect(decodeEnvelope(row!)).toEqual(
      decodeEnvelope(envelope(7, payload, { generation: 3, expiresAt: EXPIRED_AT, freshUntil: EXPIRED_AT })),
    );
    expect(await suite.raw.pttl(key('drop:expire:row'))).toBeGreaterThan(50_000);
    expect([kept, absent]).toEqual([pending, floorMarker(5)]);
  });

  it('DROP with a version drops only a key holding that version or an older one; a foreign value always', async () => {
    const v5 = envelope(5, 'v5', { pending: true });
    await runPut(suite.l2, [
      { key: key('drop:v:older'), version: 4, value: envelope(4, 'v4') },
      { key: key('drop:v:equal'), version: 5, value: envelope(5, 'v5') },
      { key: key('drop:v:newer'), version: 6, value: envelope(6, 'v6') },
      { key: key('drop:v:pending'), version: 5, value: v5 },
    ]);
    await suite.raw.set(key('drop:v:foreign'), 'not ours');
    const reply = await runDrop(suite.l2, [
      { key: key('drop:v:older'), rule: 5 },
      { key: key('drop:v:equal'), rule: 5 },
      { key: key('drop:v:newer'), rule: 5 },
      { key: key('drop:v:pending'), rule: 4 },
      { key: key('drop:v:foreign'), rule: 5 },
      { key: key('drop:v:missing'), rule: 5 },
    ]);
    expect(reply).toEqual([3]);
    expect(
      await stored('drop:v:older', 'drop:v:equal', 'drop:v:newer', 'drop:v:pending', 'drop:v:foreign'),
    ).toEqual([null, null, envelope(6, 'v6'), v5, null]);
    // Withdrawing the pending write itself (its own version) does drop it.
    expect(await runDrop(suite.l2, [{ key: key('drop:v:pending'), rule: 5 }])).toEqual([1]);
  });

  it('DROP mixes rules in one call, then INCRs the bump keys and replies their values after the count', async () => {
    await runPut(suite.l2, [
      { key: key('drop:mix:a'), version: 1, value: envelope(1, 'a') },
      { key: key('drop:mix:b'), version: 9, value: envelope(9, 'b', { pending: true }) },
      { key: key('drop:mix:c'), version: 3, value: envelope(3, 'c') },
    ]);
    await suite.raw.set(key('drop:mix:gen2'), '99');
    const reply = await runDrop(
      suite.l2,
      [
        { key: key('drop:mix:a'), rule: 'all' },
        { key: key('drop:mix:b'), rule: 'unlessPending' },
        { key: key('drop:mix:c'), rule: 2 },
      ],
      [key('drop:mix:gen'), key('drop:mix:gen2')],
    );
    expect(reply).toEqual([1, 1, 100]);
    expect(await stored('drop:mix:a', 'drop:mix:b', 'drop:mix:c')).toEqual([
      floorMarker(1),
      envelope(9, 'b', { pending: true }),
      envelope(3, 'c'),
    ]);
    // Only bumps: nothing deleted, the counters still move.
    expect(await runDrop(suite.l2, [], [key('drop:mix:gen')])).toEqual([0, 2]);
  });
}
