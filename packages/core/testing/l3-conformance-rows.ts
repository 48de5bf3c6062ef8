import { expect, it } from 'vitest';
import { MALICIOUS, type Model } from './l3-conformance-model.js';
import { byId, del, type L3Suite, readRows, rowsOf, set, writeOne } from './l3-conformance-suite.js';

/** Row writes and reads: every column kind, RETURNING, insert-only columns, deletes, odd names. */
export function registerRowTests(suite: L3Suite, m: Model): void {
  const l3 = () => suite.l3();

  it('round-trips every column kind, and nulls, exactly (RETURNING and reads alike)', async () => {
    const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const created = new Date('2001-02-03T04:05:06.789Z');
    const full = {
      id: 'full',
      label: `ünïcødé "q" 'a' \\ 🎉`,
      count: -2147483648,
      big: 2n ** 63n - 1n,
      ratio: 0.1 + 0.2, // 0.30000000000000004: needs all 17 digits
      flag: true,
      at: new Date('2024-02-29T23:59:59.999Z'),
      data: allBytes,
      doc: { nested: { list: [1, 'två', null, { deep: '🎉' }], empty: {} }, 'k"y': 'v\\w', n: -0.5 },
      createdAt: created,
    };
    const edge = {
      ...full,
      id: 'edge',
      label: '',
      big: -(2n ** 63n),
      count: 2147483647,
      ratio: -Number.MAX_VALUE,
    };
    Object.assign(edge, { flag: false, at: new Date(1), data: new Uint8Array(0), doc: [] });
    const nulls = { id: 'nulls', label: null, count: null, big: null, ratio: null, flag: null, at: null };
    Object.assign(nulls, { data: null, doc: null });
    const outcomes = await writeOne(l3(), m.kinds, set(full), set(edge), set(nulls));
    expect(outcomes.map((o) => [o.applied, o.version])).toEqual([
      [true, 1],
      [true, 1],
      [true, 1],
    ]);
    const nullsRow = outcomes[2]!.row!;
    expect(nullsRow.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(Date.now() - (nullsRow.createdAt as Date).getTime())).toBeLessThan(60_000);
    const expected = [edge, full, { ...nulls, createdAt: nullsRow.createdAt }];
    expect(outcomes.map((o) => o.row!).sort(byId)).toEqual(expected);
    const read = await l3().findMany(m.kinds, ['nulls', 'full', 'edge', 'missing']);
    expect(rowsOf(read)).toEqual(expected);
    expect(read.map((r) => r.version)).toEqual([1, 1, 1]);
    const back = read.find((r) => r.row.id === 'full')!.row;
    expect(typeof back.big).toBe('bigint');
    expect((back.at as Date).getTime()).toBe(full.at.getTime());
    expect(Object.getPrototypeOf(back.data)).toBe(Uint8Array.prototype);
    expect([...(back.data as Uint8Array)]).toEqual([...allBytes]);
    expect(typeof back.flag).toBe('boolean');
  });

  it('a set updates an existing row, keeps its insert-only (autoNowAdd) column and the columns it leaves out', async () => {
    const first = new Date('2020-01-01T00:00:00.001Z');
    await writeOne(
      l3(),
      m.kinds,
      set({ id: 'upd', label: 'before', count: 1, ratio: 2.5, createdAt: first }),
    );
    const [outcome] = await writeOne(
      l3(),
      m.kinds,
      set({ id: 'upd', label: 'after', count: 2, createdAt: new Date('2030-01-01T00:00:00Z') }),
    );
    expect(outcome).toEqual({
      applied: true,
      version: 2,
      row: expect.objectContaining({ id: 'upd', label: 'after', count: 2, ratio: 2.5, createdAt: first }),
    });
    expect(await l3().findMany(m.kinds, ['upd'])).toEqual([{ row: outcome!.row, version: 2 }]);
  });

  it('coalesces a call by key: the last write of a key wins, the ones it supersedes report applied:false', async () => {
    const outcomes = await writeOne(
      l3(),
      m.kinds,
      set({ id: 'dup', count: 1 }),
      set({ id: 'dup', count: 2 }),
      set({ id: 'gone', count: 1 }),
      del('gone'),
      del('back'),
      set({ id: 'back', count: 3 }),
    );
    expect(outcomes.map((o) => o.applied)).toEqual([false, true, false, true, false, true]);
    expect(outcomes[1]).toMatchObject({ version: 1, row: { id: 'dup', count: 2 } });
    expect(outcomes[3]).toEqual({ applied: true, version: 1, existed: false });
    expect((await readRows(l3(), m.kinds, ['dup', 'gone', 'back'])).map((r) => [r.id, r.count])).toEqual([
      ['back', 3],
      ['dup', 2],
    ]);
  });

  it('exists, and deletes that say whether a row was there', async () => {
    await writeOne(l3(), m.kinds, set({ id: 'd1' }), set({ id: 'd2' }));
    expect(await l3().exists(m.kinds, 'd1')).toBe(true);
    expect(await l3().exists(m.kinds, 'nope')).toBe(false);
    const outcomes = await writeOne(l3(), m.kinds, del('d1'), del('d2'), del('nope'));
    expect(outcomes).toEqual([
      { applied: true, version: 2, existed: true },
      { applied: true, version: 2, existed: true },
      { applied: true, version: 1, existed: false },
    ]);
    expect(await l3().exists(m.kinds, 'd1')).toBe(false);
    expect(await writeOne(l3(), m.kinds, del('d1'))).toEqual([{ applied: true, version: 3, existed: false }]);
    // Nothing to do sends nothing.
    const mark = suite.log.length;
    expect(await l3().write([])).toEqual([]);
    expect(
      await l3().write([
        { schema: m.kinds, writes: [] },
        { schema: m.bulk, writes: [] },
      ]),
    ).toEqual([[], []]);
    expect(await l3().findMany(m.kinds, [])).toEqual([]);
    expect(suite.log.length).toBe(mark);
  });

  it('refuses a write without a usable primary key before any SQL', async () => {
    const mark = suite.log.length;
    await expect(writeOne(l3(), m.kinds, set({ label: 'no id' }))).rejects.toThrow(/primary key/);
    await expect(writeOne(l3(), m.kinds, del(undefined))).rejects.toThrow(/primary key/);
    expect(suite.log.length).toBe(mark);
  });

  it('quotes odd identifiers and escapes a malicious default', async () => {
    const id = `x"); drop table kinds; --`;
    const [outcome] = await writeOne(l3(), m.weird, set({ id }));
    const row = { id, value: MALICIOUS, meta: { "it's": 'back\\slash' }, long: null };
    expect(outcome).toEqual({ applied: true, version: 1, row });
    expect(await l3().findMany(m.weird, [id])).toEqual([{ row, version: 1 }]);
    expect(await writeOne(l3(), m.weird, del(id))).toEqual([{ applied: true, version: 2, existed: true }]);
    expect(await l3().exists(m.kinds, 'full')).toBe(true);
  });

  it('works on the partitioned table, with a bigint key past 2^53', async () => {
    const id = 2n ** 60n + 1n;
    await writeOne(l3(), m.events, set({ id, at: new Date('2024-01-01T00:00:00.000Z') }));
    const [outcome] = await writeOne(l3(), m.events, set({ id, at: new Date('2025-01-01T00:00:00.000Z') }));
    expect(outcome).toEqual({
      applied: true,
      version: 2,
      row: { id, at: new Date('2025-01-01T00:00:00.000Z') },
    });
    expect(await l3().findMany(m.events, [id, id - 1n])).toEqual([{ row: outcome!.row, version: 2 }]);
    expect(await writeOne(l3(), m.events, del(id))).toEqual([{ applied: true, version: 3, existed: true }]);
  });
}
