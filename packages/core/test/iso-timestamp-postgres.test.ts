// ISO 8601 date-times a write-behind set takes in string-mode timestamp, timestamptz and date
// columns (schema/iso-timestamp.ts) against a real Postgres session in DateStyle ISO, TimeZone UTC:
// for each of thousands of generated inputs (every precision, offsets of both signs, fractions of
// up to 9 digits with ties, years 1 and 9999, the days around 2000-01-01), the text Strata puts it
// in is what Postgres answers for `$1::type::text`; what Strata takes Postgres takes (or the column's
// check refuses first), and every input Postgres answers in years 1-9999 is taken.

import { date, pgTable, timestamp } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dateTimeFormOf } from '../src/schema/datetime-form.js';
import { whyNotDateTime } from '../src/schema/datetime-input.js';
import { type InputOracle, inputOracle, nearInputs } from './support/postgres-input.js';

let oracle: InputOracle;
beforeAll(async () => {
  oracle = await inputOracle();
});
afterAll(() => oracle.end());

let state = 2024;
const pick = (n: number) => {
  state = (Math.imul(state, 1_103_515_245) + 12_345) & 0x7fffffff;
  return state % n;
};
const two = (n: number) => String(n).padStart(2, '0');
const one = <T>(items: readonly T[]) => items[pick(items.length)]!;

/** An ISO 8601 date-time, drawn near the edges that matter (years 1 and 9999, 2000-01-01, ties). */
function generated(): string {
  const edge = pick(4);
  const year = edge === 0 ? one([1, 2, 1999, 2000, 9998, 9999]) : 1 + pick(9999);
  const month = edge === 0 ? one([1, 12]) : 1 + pick(12);
  const day = edge === 0 ? one([1, 31]) : 1 + pick(28);
  const clock = edge === 0 ? one(['00:00', '23:59', '00:30', '23:30']) : `${two(pick(24))}:${two(pick(60))}`;
  const seconds = pick(5) === 0 ? '' : `:${edge === 0 ? one(['00', '59']) : two(pick(60))}`;
  const digits = one([
    '0',
    '5',
    '9',
    '05',
    '25',
    '45',
    '95',
    '000',
    '500',
    '999',
    '125',
    '0000005',
    '9999995',
  ]);
  const fraction =
    seconds && pick(3) > 0 ? `.${pick(2) ? digits : String(pick(1e9)).padStart(1 + pick(9), '0')}` : '';
  const h = pick(16);
  const m = one([0, 0, 30, 45, pick(60)]);
  const offset = one([
    'Z',
    '',
    `${one(['+', '-'])}${two(h)}`,
    `${one(['+', '-'])}${two(h)}:${two(m)}`,
    `${one(['+', '-'])}${two(h)}${two(m)}`,
  ]);
  return `${String(year).padStart(4, '0')}-${two(month)}-${two(day)}${one(['T', ' '])}${clock}${seconds}${fraction}${offset}`;
}

const GENERATED = Array.from({ length: 4000 }, generated);
const SEEDS = [
  '2024-01-31T10:00:00.000Z',
  '1999-12-31T23:59:59.5Z',
  '2000-01-01T00:00:00.5Z',
  '0001-01-01T00:30:00+01:00',
  '9999-12-31T23:30:00-01:00',
  '2024-02-29 10:00:00.9999995-15:59',
];
const INPUTS = [...new Set([...SEEDS, ...GENERATED, ...nearInputs(SEEDS, [...'0123456789:.+-TZ '], 3000)])];

const ts = (precision?: 0 | 1 | 2 | 3 | 4 | 5 | 6, withTimezone?: boolean) =>
  pgTable('t', { x: timestamp('x', { mode: 'string', precision, withTimezone }) }).x;
const TYPES = [
  ['timestamptz', ts(undefined, true)],
  ['timestamptz(0)', ts(0, true)],
  ['timestamptz(1)', ts(1, true)],
  ['timestamptz(3)', ts(3, true)],
  ['timestamptz(5)', ts(5, true)],
  ['timestamp', ts()],
  ['timestamp(0)', ts(0)],
  ['timestamp(2)', ts(2)],
  ['date', pgTable('t', { x: date('x', { mode: 'string' }) }).x],
] as const;

it.each(TYPES)(
  'ISO 8601 text in a write-behind %s: Postgres answers what Strata puts it in',
  async (type, column) => {
    const [form] = dateTimeFormOf(column)!;
    const outputs = await oracle.outputs(type, INPUTS);
    const rows = INPUTS.map((input, i) => ({ input, postgres: outputs[i], strata: form(input) }));
    const taken = rows.filter((r) => r.strata !== undefined && whyNotDateTime(r.input, false) === undefined);
    expect(taken.filter((r) => r.postgres !== r.strata)).toEqual([]);
    // Every generated input Postgres answers in years 1-9999 is taken (a timestamptz's needs an offset).
    const generatedSet = new Set(GENERATED);
    const missed = rows.filter(
      (r) =>
        generatedSet.has(r.input) &&
        r.strata === undefined &&
        r.postgres !== null &&
        !/BC$|^\d{5}/.test(r.postgres!) &&
        !(type.startsWith('timestamptz') && !/(Z|[+-][\d:]+)$/.test(r.input)),
    );
    expect(missed).toEqual([]);
    expect(taken.filter((r) => r.strata !== r.input).length).toBeGreaterThan(3000);
  },
);
