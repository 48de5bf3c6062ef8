// whyNotNumeric against a real Postgres: for every input and typmod, Strata refuses exactly what
// Postgres' numeric input refuses, with the same SQLSTATE (or, for the forms Postgres 16 added, refuses
// what an older server refuses).
import { serviceUrls } from '@strata/devstack/testing';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { whyNotNumeric } from '../src/schema/numeric-input.js';

const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 1 });
afterAll(() => pool.end());

const inputs = [
  '0',
  '-0',
  '+1',
  ' 12.5 ',
  '\t7\n',
  '.5',
  '5.',
  '-.5e1',
  '1e5',
  '1E+5',
  '1e-0',
  '00012.3400',
  '9999.99',
  '9999.994',
  '9999.995',
  '-9999.995',
  '0.005',
  '0.0049',
  '0.000000001',
  '99.995',
  '1e3',
  '1e4',
  '12345.67',
  '123.4',
  '-99.99',
  '1e-16383',
  '1e-16384',
  '1.5e-16382',
  '1.5e-16383',
  '0e999999',
  '0e-999999',
  '0.0e131072',
  '1e131071',
  '1e131072',
  '0e9999999999',
  '1e99999999999999999999',
  'NaN',
  'nan ',
  ' NAN',
  '-nan',
  'inf',
  '-Infinity',
  '+inf',
  'infinityx',
  'abc',
  '',
  ' ',
  '.',
  '1.2.3',
  '5e',
  '-.e1',
  '1 e5',
  '1_000',
  '0x1F',
  '١',
  '1e',
  'e5',
  '--1',
  '+-1',
  '12a',
];
const types = [
  {},
  { precision: 6, scale: 2 },
  { precision: 4, scale: 2 },
  { precision: 3 },
  { precision: 3, scale: -2 },
];

it.each(types)('agrees with Postgres on %j', async (type) => {
  const sqlType =
    type.precision === undefined
      ? 'numeric'
      : `numeric(${type.precision}, ${'scale' in type ? type.scale : 0})`;
  const disagree: unknown[] = [];
  let refused = 0;
  for (const input of inputs) {
    const postgres = await pool.query(`select $1::${sqlType}`, [input]).then(
      () => undefined,
      (err: { code?: string }) => err.code,
    );
    if (postgres !== undefined) refused++;
    const ours = whyNotNumeric(input, type);
    const code = ours?.match(/\((\w{5})\)$/)?.[1];
    if (code !== postgres)
      disagree.push({ input, postgres: postgres ?? 'stored', strata: ours ?? 'accepted' });
  }
  expect(disagree).toEqual([]);
  expect(refused).toBeGreaterThan(20);
});
