// whyNotDateTime against a real Postgres: every string Postgres takes as a date/time type (under any
// of three DateStyles) passes; of the strings it refuses, the check refuses at least the hostile list.
// The check is a superset on purpose (see schema/datetime-input.ts): what it lets through that
// Postgres refuses is counted, not asserted. Inputs: every string literal of Postgres' regression
// tests for these types (fixtures/postgres-datetime-literals.json), the lists below, and strings near
// them.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { whyNotDateTime } from '../src/schema/datetime-input.js';
import literals from './fixtures/postgres-datetime-literals.json' with { type: 'json' };
import { type InputOracle, inputOracle, nearInputs } from './support/postgres-input.js';

let oracle: InputOracle;
beforeAll(async () => {
  oracle = await inputOracle();
});
afterAll(() => oracle.end());

const STYLES = ['ISO, MDY', 'ISO, DMY', 'ISO, YMD'];

/** Postgres refuses these as every date/time type; the check must refuse them too. */
const hostile = [
  'not a date',
  '',
  '  ',
  'abc',
  'noon',
  'z',
  'é2020-01-01',
  '2020-01-01é',
  '2020-01-01\u00a0',
  '2020-01-01\u0001',
  '2020-13-45',
  '2020-02-30',
  '2021-02-29',
  '1900-02-29',
  '0000-01-01',
  '2020-00-10',
  '2020-01-00',
  '2020-04-31',
  '2020-13-01 10:00',
];

/** Forms Postgres takes that a stricter check would wrongly refuse. */
const forms = [
  'epoch',
  'infinity',
  '-infinity',
  ' Infinity',
  'now',
  'now()',
  'today',
  'tomorrow EST',
  'yesterday',
  'allballs',
  'J2451187',
  'January 8, 1999',
  '1999-Jan-08',
  '08-Jan-1999',
  '1999-01-08T04:05:06Z',
  '2020-01-01 America/Argentina/Buenos_Aires',
  '2020-02-29',
  '2000-02-29',
  '0001-02-29 BC',
  '0005-02-29 BC',
  '2021-02-29 BC',
  '2020-01-01 24:00:00',
  '2020-01-01 23:59:60',
  '2020-01-01-',
  '2020--01-01',
  '2020-1-5',
  '20200101',
  '2020-001',
  '2020-366',
  '\t2020-01-01\n',
  '2020-01-01\u000b',
  '99999-01-01',
  '4714-11-24 BC',
  '1 2 3',
  '@ 1 year 2 mons',
  'P1Y2M3DT4H5M6S',
  'PT',
  '1-2',
  '- 1',
  '1 day 02:03:04',
  '-1 days +2',
  '1 day ago',
  '100:00:00',
  '1.5 year',
];

const inputs = [
  ...new Set([
    ...literals,
    ...hostile,
    ...forms,
    ...nearInputs(
      [...literals, ...forms],
      ['0', '1', '2', '9', '-', ':', '.', ' ', 'T', 'Z', 'J', 'B', 'C', '/'],
      3000,
    ),
  ]),
];

it.each([
  ['date', false],
  ['time', false],
  ['timetz', false],
  ['timestamp', false],
  ['timestamptz', false],
  ['interval', true],
] as const)('takes every %s Postgres takes; refuses at least the hostile list', async (type, interval) => {
  const refusals = await oracle.refusals(type, inputs, STYLES);
  const falseRefusals: unknown[] = [];
  let refusedByPostgres = 0;
  let refusedByBoth = 0;
  inputs.forEach((input, i) => {
    const ours = whyNotDateTime(input, interval);
    if (refusals[i] === null && ours !== undefined) falseRefusals.push({ input, strata: ours });
    if (refusals[i] !== null) refusedByPostgres++;
    if (refusals[i] !== null && ours !== undefined) refusedByBoth++;
  });
  expect(falseRefusals).toEqual([]);
  for (const input of hostile) {
    if (interval && /^\d{4}-/.test(input)) continue; // interval reads '2020-13-45' as a number of years
    expect(refusals[inputs.indexOf(input)], input).not.toBeNull();
    expect(whyNotDateTime(input, interval), input).toBeDefined();
  }
  // The superset's reach, for the record (printed by --reporter=verbose runs).
  console.info(
    `${type}: ${inputs.length} inputs, Postgres refuses ${refusedByPostgres}, Strata too ${refusedByBoth}`,
  );
  expect(refusedByBoth).toBeGreaterThanOrEqual(hostile.length - 8);
});
