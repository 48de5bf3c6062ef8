import { expect, it } from 'vitest';
import type { Row } from '../src/l3/types.js';
import { MALICIOUS, type Model } from './l3-conformance-model.js';
import { byId, type L3Suite, loggedSince, rejection } from './l3-conformance-suite.js';

/** Row operations: every column kind, upserts (chunked, atomic), scan, exists, deleteMany. */
export function registerRowTests(suite: L3Suite, m: Model): void {
  const { schemaName } = suite;
  const l3 = () => suite.l3();

  it('round-trips every column kind, and nulls, exactly', async () => {
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
    const stored = (await l3().upsertMany(m.kinds, [full, edge, nulls])).sort(byId);
    const now = Date.now();
    const nullsRow = stored.find((r) => r.id === 'nulls')!;
    expect(nullsRow.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(now - (nullsRow.createdAt as Date).getTime())).toBeLessThan(60_000);
    const expected = [edge, full, { ...nulls, createdAt: nullsRow.createdAt }];
    expect(stored).toEqual(expected);
    const read = (await l3().findMany(m.kinds, ['nulls', 'full', 'edge', 'missing'])).sort(byId);
    expect(read).toEqual(expected);
    const back = read.find((r) => r.id === 'full')!;
    expect(typeof back.big).toBe('bigint');
    expect((back.at as Date).getTime()).toBe(full.at.getTime());
    expect(Object.getPrototypeOf(back.data)).toBe(Uint8Array.prototype);
    expect([...(back.data as Uint8Array)]).toEqual([...allBytes]);
  });

  it('upsert updates an existing row but keeps its autoNowAdd column', async () => {
    const first = new Date('2020-01-01T00:00:00.001Z');
    await l3().upsertMany(m.kinds, [{ id: 'upd', label: 'before', count: 1, createdAt: first }]);
    const [row] = await l3().upsertMany(m.kinds, [
      { id: 'upd', label: 'after', count: 2, createdAt: new Date('2030-01-01T00:00:00Z') },
    ]);
    expect(row).toMatchObject({ id: 'upd', label: 'after', count: 2, createdAt: first });
    expect(await l3().findMany(m.kinds, ['upd'])).toEqual([row]);
    // One statement may not touch a row twice: the last write for a key wins.
    const dup = await l3().upsertMany(m.kinds, [
      { id: 'dup', count: 1 },
      { id: 'dup', count: 2 },
    ]);
    expect(dup.map((r) => r.count)).toEqual([2]);
  });

  it('upserts 20,000 rows past the parameter limit as ONE statement (a jsonb recordset), stored as given', {
    timeout: 120_000,
  }, async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => ({
      id: i,
      a: `a${i}`,
      b: i * 2,
      c: i / 3,
      d: i % 2 === 0,
    }));
    const target = `insert into "${schemaName}"."bulk"`;
    const mark = suite.log.length;
    const stored = await l3().upsertMany(m.bulk, rows);
    const inserts = loggedSince(suite, mark, target);
    // 5 columns × 20,000 rows: 100,000 cells, past 65,535 parameters; one parameter as a recordset.
    expect(inserts).toHaveLength(1);
    expect(inserts[0]?.query).toContain('jsonb_to_recordset');
    expect([...stored].sort((x, y) => Number(x.id) - Number(y.id))).toEqual(rows);
    const read = await l3().findMany(
      m.bulk,
      rows.map((r) => r.id),
    );
    expect(read.sort((x, y) => Number(x.id) - Number(y.id))).toEqual(rows);
  });

  it('rows that leave a column to its default go in VALUES chunks under the limit instead', {
    timeout: 120_000,
  }, async () => {
    // A record cannot say DEFAULT: with `c` given by some rows only, the statement is chunked VALUES.
    const rows = Array.from({ length: 20_000 }, (_, i) => ({
      id: 100_000 + i,
      a: `m${i}`,
      b: i,
      ...(i % 2 === 0 ? { c: i / 7 } : {}),
      d: null,
    }));
    const target = `insert into "${schemaName}"."bulk"`;
    const mark = suite.log.length;
    const stored = await l3().upsertMany(m.bulk, rows);
    const inserts = loggedSince(suite, mark, target);
    // 5 columns: 13,106 rows (65,530 parameters) per statement.
    expect(inserts).toHaveLength(Math.ceil(20_000 / Math.floor(65_534 / 5)));
    expect(inserts.every((i) => !i.query.includes('jsonb_to_recordset'))).toBe(true);
    expect(stored).toHaveLength(20_000);
    const [odd] = await l3().findMany(m.bulk, [100_001]);
    expect(odd).toEqual({ id: 100_001, a: 'm1', b: 1, c: null, d: null });
    // Leave the table as the other tests expect it (the scan test counts its 20,000 rows).
    expect(
      await l3().deleteMany(
        m.bulk,
        rows.map((r) => r.id),
      ),
    ).toBe(20_000);
  });

  it('a failing chunk leaves no row of the batch, and the error keeps its SQLSTATE', {
    timeout: 120_000,
  }, async () => {
    const rows: Row[] = Array.from({ length: 20_000 }, (_, i) => ({ id: 20_000 + i, a: `n${i}`, b: -i }));
    rows[rows.length - 1] = { id: 39_999, a: null };
    const error = await rejection(l3().upsertMany(m.bulk, rows));
    expect(error.code).toBe('23502');
    expect(await l3().findMany(m.bulk, [20_000, 25_000, 39_998, 39_999])).toEqual([]);
    expect(await l3().exists(m.bulk, 19_999)).toBe(true);
  });

  it('scan pages through every row once in primary-key order', { timeout: 60_000 }, async () => {
    const seen: number[] = [];
    let after: unknown;
    for (let page = 0; page < 10; page++) {
      const rows = await l3().scan(m.bulk, { limit: 7_000, ...(after !== undefined && { after }) });
      if (rows.length === 0) break;
      seen.push(...rows.map((r) => Number(r.id)));
      after = rows.at(-1)?.id;
    }
    expect(seen).toHaveLength(20_000);
    expect(seen).toEqual(Array.from({ length: 20_000 }, (_, i) => i));
    expect(await l3().scan(m.bulk, { after: 19_990, limit: 3 })).toEqual([
      { id: 19_991, a: 'a19991', b: 39_982, c: 19_991 / 3, d: false },
      { id: 19_992, a: 'a19992', b: 39_984, c: 19_992 / 3, d: true },
      { id: 19_993, a: 'a19993', b: 39_986, c: 19_993 / 3, d: false },
    ]);
  });

  it('exists and deleteMany', async () => {
    expect(await l3().exists(m.bulk, 7)).toBe(true);
    expect(await l3().exists(m.bulk, -7)).toBe(false);
    expect(await l3().deleteMany(m.bulk, [7, 8, -7])).toBe(2);
    expect(await l3().exists(m.bulk, 7)).toBe(false);
    expect(await l3().deleteMany(m.bulk, [7])).toBe(0);
    expect(await l3().deleteMany(m.bulk, [])).toBe(0);
    expect(await l3().findMany(m.bulk, [])).toEqual([]);
  });

  it('quotes odd identifiers and escapes a malicious default', async () => {
    const [row] = await l3().upsertMany(m.weird, [{ id: `x"); drop table kinds; --` }]);
    expect(row).toEqual({
      id: `x"); drop table kinds; --`,
      value: MALICIOUS,
      meta: { "it's": 'back\\slash' },
      long: null,
    });
    expect(await l3().findMany(m.weird, [row!.id])).toEqual([row]);
    expect(await l3().exists(m.kinds, 'full')).toBe(true);
  });

  it('works on the partitioned table', async () => {
    const id = 2n ** 60n;
    await l3().upsertMany(m.events, [{ id, at: new Date('2024-01-01T00:00:00.000Z') }]);
    await l3().upsertMany(m.events, [{ id, at: new Date('2025-01-01T00:00:00.000Z') }]);
    expect(await l3().findMany(m.events, [id])).toEqual([{ id, at: new Date('2025-01-01T00:00:00.000Z') }]);
  });
}
