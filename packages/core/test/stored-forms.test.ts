import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { isStrataError, Q } from '../src/index.js';
import { type Column, storedFormsFixture } from './support/stored-forms.js';

// A value Postgres stores in a form of its own is answered in that form by every tier, from the
// write on: L1, L2 alone, Postgres alone, before a write-behind flush and after it. Before, a
// write-behind row was cached as written ('A0EEBC99-…', '1e2', '08-00-2B-…') and answered so until
// its flush replaced it with Postgres' text, and a date-mode timestamp of years 1-99 was read back
// from Postgres as 19xx while the copy cached at the write said 00xx.

const app = storedFormsFixture('stored_forms');

const d = (iso: string) => new Date(iso);
/** [column, value written, value Postgres answers]. */
const CASES: [Column, unknown, unknown][] = [
  ['u', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
  [
    'uArr',
    ['A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1F'],
    ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1f'],
  ],
  ['tsd', d('0050-06-01T10:00:00.000Z'), d('0050-06-01T10:00:00.000Z')],
  ['tstzd', d('0001-01-01T00:00:00.000Z'), d('0001-01-01T00:00:00.000Z')],
  ['ts0', d('2024-06-01T10:00:00.600Z'), d('2024-06-01T10:00:01.000Z')],
  // Half a second before 2000 rounds away from 2000-01-01, Postgres' epoch: down.
  ['ts0', d('1990-01-01T00:00:00.500Z'), d('1990-01-01T00:00:00.000Z')],
  ['ts2', d('2024-06-01T10:00:00.125Z'), d('2024-06-01T10:00:00.130Z')],
  ['dd', d('2024-06-01T23:59:59.999Z'), d('2024-06-01T00:00:00.000Z')],
  ['ch', 'é😀ab', 'é😀ab '],
  ['ch', 'ab', 'ab   '],
  ['ch1', '', ' '],
  ['vc', 'é😀x', 'é😀x'],
  ['num', '+001.005', '1.01'],
  ['num', '1.5', '1.50'],
  ['numu', '1e2', '100'],
  ['numu', '-0.0', '0.0'],
  ['numn', 1.005, 1.01],
  ['r', 1.23456789, 1.2345679],
  ['ip', '10.1/16', '10.1.0.0/16'],
  ['ip', '::FFFF:1.2.3.4', '::ffff:1.2.3.4'],
  ['cd', '192.168', '192.168.0.0/24'],
  ['mac', '08-00-2B-01-02-03', '08:00:2b:01:02:03'],
  ['mac8', '08:00:2b:01:02:03', '08:00:2b:ff:fe:01:02:03'],
  // String-mode date/time in ISO 8601 (what `toISOString()` writes) is turned into Postgres' own
  // text: a write-behind set refused it before ('a write-behind row is cached before Postgres…').
  ['tstz', '2024-01-31T10:00:00.000Z', '2024-01-31 10:00:00+00'],
  ['tstz', '2024-01-31T10:00:00.1234565+05:30', '2024-01-31 04:30:00.123456+00'],
  ['tstz', '2024-01-31 00:30-0100', '2024-01-31 01:30:00+00'],
  // timestamp without time zone drops the offset; date drops the time and the offset.
  ['ts', '2024-01-31T10:00:00.500+02:00', '2024-01-31 10:00:00.5'],
  ['ts', '2024-01-31T10:00', '2024-01-31 10:00:00'],
  ['d', '2024-01-31T23:30:00-05:00', '2024-01-31'],
];

/** String-mode date/time: write-through takes any form Postgres reads; write-behind only Postgres' own. */
const DATE_TIMES: [Column, string, string][] = [
  ['ts', 'Jan 1 2024 10:00', '2024-01-01 10:00:00'],
  // No offset: the session's TimeZone decides (UTC here).
  ['tstz', '2024-01-01T10:00:00', '2024-01-01 10:00:00+00'],
  ['tstz', '2024-01-01 05:00:00 America/New_York', '2024-01-01 10:00:00+00'],
  ['d', 'January 8, 1999', '1999-01-08'],
  ['t', '10:00', '10:00:00'],
  ['ttz', '10:00+05:30', '10:00:00+05:30'],
  ['iv', '1 day 2 hours', '1 day 02:00:00'],
];

let n = 0;
for (const mode of ['write-through', 'write-behind'] as const) {
  describe(mode, () => {
    const cases =
      mode === 'write-through'
        ? [...CASES, ...DATE_TIMES]
        : [...CASES, ...DATE_TIMES.map(([c, , s]) => [c, s, s] as const)];
    for (const [column, written, stored] of cases) {
      it(`${column} ${JSON.stringify(written)}: every tier answers ${JSON.stringify(stored)}`, async () => {
        const { schema, writer, cached, stored: inPostgres } = app(mode);
        const id = `${column}-${++n}`;
        const answered = await writer.set(schema, { id, [column]: written });
        expect(answered[column], 'the row set answers').toEqual(stored);
        const before = await cached(id);
        expect(before.l1?.[column], 'L1').toEqual(stored);
        expect(before.l2?.[column], 'L2 alone').toEqual(stored);
        await writer.flushDirty();
        const after = { ...(await cached(id)), ...(await inPostgres(id)) };
        expect(after.l3?.[column], 'Postgres').toEqual(stored);
        expect(after.l1?.[column], 'L1 after the flush').toEqual(stored);
        expect(after.l2?.[column], 'L2 alone after the flush').toEqual(stored);
        // Drizzle's own read of a date-mode timestamp takes years 1-99 for 19xx (see column-decoder.ts).
        if (!['tsd', 'tstzd'].includes(column)) expect(after.drizzle?.[column], 'Drizzle').toEqual(stored);
      });
    }
  });
}

describe('write-behind, string-mode date/time in another form than Postgres answers', () => {
  for (const [column, written] of DATE_TIMES) {
    it(`${column} ${JSON.stringify(written)}: VALIDATION_FAILED, no tier touched`, async () => {
      const { schema, writer } = app('write-behind');
      const id = `refused-${column}-${++n}`;
      const err = await writer.set(schema, { id, [column]: written }).catch((e: unknown) => e);
      expect(isStrataError(err, 'VALIDATION_FAILED'), String(err)).toBe(true);
      expect((err as Error).message).toContain(
        `field ${column}: a write-behind row is cached before Postgres stores it`,
      );
      expect(await writer.find(schema, id)).toBeNull();
      expect(writer.stats().dirtyCount).toBe(0);
    });
  }
});

it('a timestamp(0) that rounds past year 9999 is refused (Drizzle cannot send year 10000): VALIDATION_FAILED', async () => {
  const { schema, writer } = app('write-behind');
  const err = await writer
    .set(schema, { id: 'y10000', ts0: new Date('9999-12-31T23:59:59.500Z') })
    .catch((e: unknown) => e);
  expect(isStrataError(err, 'VALIDATION_FAILED'), String(err)).toBe(true);
  expect((err as Error).message).toContain('field ts0: rounds to year 10000');
  expect(await writer.find(schema, 'y10000')).toBeNull();
});

it('a search answers a date-mode timestamp of years 1-99 as written, as a read by key does', async () => {
  const { schema, table, writer } = app('write-through');
  const at = new Date('0042-03-04T05:06:07.089Z');
  await writer.set(schema, { id: 'search-0042', tsd: at, tstzd: at });
  const [found] = await writer.search(schema, Q().where(eq(table.id, 'search-0042')).build());
  expect(found).toMatchObject({ tsd: at, tstzd: at });
});
