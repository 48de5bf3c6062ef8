// The stored forms Strata computes (schema/stored-form.ts, numeric-form.ts, network-input.ts,
// mac-input.ts, datetime-form.ts) against a real Postgres: for every input both take, Strata's form
// is the text Postgres answers (its output function); a write-behind date/time text Strata takes
// is one Postgres answers as Strata puts it. Inputs: literals, and thousands of strings near them.

import { interval, pgTable, time, timestamp } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dateTimeFormOf } from '../src/schema/datetime-form.js';
import { macaddrText, whyNotMacaddr } from '../src/schema/mac-input.js';
import { inetText, whyNotInet } from '../src/schema/network-input.js';
import { numericText } from '../src/schema/numeric-form.js';
import { whyNotNumeric } from '../src/schema/numeric-input.js';
import { float4 } from '../src/schema/stored-form.js';
import { type InputOracle, inputOracle, nearInputs } from './support/postgres-input.js';

let oracle: InputOracle;
beforeAll(async () => {
  oracle = await inputOracle();
});
afterAll(() => oracle.end());

const NUMBERS = [
  '1e2',
  '+001.005',
  '1.5',
  '-0.0',
  '.5',
  '9.995',
  '12.345e1',
  '1.50e1',
  '-1e-3',
  '00012',
  ' 7 ',
  'NaN',
  '-inf',
  '99999999.995',
  '0.005',
];
const NETWORKS = [
  '10.1/16',
  '10.1.2.3',
  '10.1.2.3/8',
  '192.168',
  '0x0a/8',
  '224',
  '::FFFF:1.2.3.4',
  '::1',
  '1:0:0:0:0:0:0:8',
  '1:0:0:2:0:0:0:8',
  '0:0:0:0:0:0:1.2.3.4',
  '2001:DB8::/32',
  '1::',
  '::ffff:0:0',
  'abcd:0:1:0:1:0:1:0',
  '10:23::8000/113',
];
const MACS = [
  '08-00-2B-01-02-03',
  '0800.2b01.0203',
  '08002b010203',
  '08002b:010203',
  ' 8:0:2b:1:2:3 ',
  '08:00:2b:01:02:03:04:05',
  '0800.2b01.0203.0405',
];

const kinds = [
  ['numeric', NUMBERS, (s: string) => whyNotNumeric(s, {}), (s: string) => numericText(s, {})],
  [
    'numeric(10, 2)',
    NUMBERS,
    (s: string) => whyNotNumeric(s, { precision: 10, scale: 2 }),
    (s: string) => numericText(s, { precision: 10, scale: 2 }),
  ],
  [
    'numeric(4, -2)',
    NUMBERS,
    (s: string) => whyNotNumeric(s, { precision: 4, scale: -2 }),
    (s: string) => numericText(s, { precision: 4, scale: -2 }),
  ],
  ['inet', NETWORKS, (s: string) => whyNotInet(s, false), (s: string) => inetText(s, false)],
  ['cidr', NETWORKS, (s: string) => whyNotInet(s, true), (s: string) => inetText(s, true)],
  ['macaddr', MACS, (s: string) => whyNotMacaddr(s, false), (s: string) => macaddrText(s, false)],
  ['macaddr8', MACS, (s: string) => whyNotMacaddr(s, true), (s: string) => macaddrText(s, true)],
] as const;
const alphabet = [...'0123456789abcdefABCDEF.:-+/ eEx', 'inf', 'NaN'];

it.each(kinds)(
  'answers what Postgres answers for every %s input both take',
  async (type, seeds, why, form) => {
    const inputs = [...new Set([...seeds, ...nearInputs(seeds, alphabet, 3000)])].filter(
      (s) => why(s) === undefined,
    );
    const outputs = await oracle.outputs(type, inputs);
    const disagree = inputs.flatMap((input, i) =>
      outputs[i] !== null && form(input) !== outputs[i]
        ? [{ input, postgres: outputs[i], strata: form(input) }]
        : [],
    );
    expect(disagree).toEqual([]);
    expect(outputs.filter((o) => o !== null).length).toBeGreaterThan(100);
  },
);

it('real: the number Postgres answers, as the driver reads it', async () => {
  let state = 7;
  const next = () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  const numbers = Array.from({ length: 3000 }, (_, i) => (next() - 0.5) * 10 ** ((i % 24) - 12));
  numbers.push(1.23456789, 0.1, 1 / 3, 16_777_217, 8_388_607.5, -0, 2 ** -140);
  const outputs = await oracle.outputs('real', numbers.map(String));
  const disagree = numbers.flatMap((n, i) =>
    float4(n) !== Number.parseFloat(outputs[i]!) ? [{ n, postgres: outputs[i], strata: float4(n) }] : [],
  );
  expect(disagree).toEqual([]);
});

const t = pgTable('t', {
  ts: timestamp('ts', { mode: 'string' }),
  tstz: timestamp('tstz', { mode: 'string', withTimezone: true }),
  ts0: timestamp('ts0', { mode: 'string', precision: 0 }),
  tm: time('tm'),
  ttz: time('ttz', { withTimezone: true }),
  iv: interval('iv'),
  iv2: interval('iv2', { precision: 2 }),
});
const DATE_TIMES = [
  [
    'timestamp',
    t.ts,
    [
      '2024-01-01 10:00:00',
      '2024-01-01T10:00:00Z',
      '2024-01-01 10:00:00.50',
      '0044-03-15 12:00:00 BC',
      '2024-01-01 24:00:00',
      'infinity',
      '10000-01-01 00:00:00',
    ],
  ],
  [
    'timestamptz',
    t.tstz,
    [
      '2024-01-01 10:00:00+00',
      '2024-01-01 10:00:00+01',
      '2024-01-01 10:00:00.123456+00',
      '2024-01-01 10:00:00',
    ],
  ],
  ['timestamp(0)', t.ts0, ['2024-01-01 10:00:00', '2024-01-01 10:00:00.5']],
  ['time', t.tm, ['10:00:00', '10:00', '24:00:00', '23:59:59.999999', '24:00:00.1']],
  [
    'timetz',
    t.ttz,
    ['10:00:00+05:30', '10:00:00+05:00', '10:00:00+05', '10:00:00-00', '10:00:00+00', '10:00:00+05:30:15'],
  ],
  [
    'interval',
    t.iv,
    [
      '1 year 2 mons 3 days 04:05:06',
      '1 day 2 hours',
      '00:00:00',
      '-1 years -2 mons +3 days -04:05:06',
      '13 mons',
      '1 year',
      '25:00:00',
      '-00:00:01.5',
      '1 day -02:00:00',
      '1 mon 00:00:00',
      '-1 days +01:00:00',
      '1 years',
    ],
  ],
  ['interval(2)', t.iv2, ['00:00:01.25', '00:00:01.255']],
] as const;

it.each(DATE_TIMES)(
  'write-behind %s text: taken only when Postgres answers it unchanged',
  async (type, column, seeds) => {
    const [form] = dateTimeFormOf(column)!;
    const inputs = [
      ...new Set([...seeds, ...nearInputs(seeds, [...'0123456789:.+- ', 'mons', 'days', 'year'], 3000)]),
    ];
    const outputs = await oracle.outputs(type, inputs);
    // Postgres' own text of each value it took is taken (no value is refused for its form alone)…
    const canonical = [...new Set(outputs.filter((o): o is string => o !== null))];
    const canonicalOut = await oracle.outputs(type, canonical);
    const refusedOwn = canonical.filter((c, i) => canonicalOut[i] === c && form(c) === undefined);
    // …and every text taken that Postgres takes is answered as Strata puts it (what it refuses:
    // datetime-input.test.ts; ISO 8601 text: iso-timestamp-postgres.test.ts).
    const changed = inputs.flatMap((input, i) =>
      form(input) !== undefined && outputs[i] !== null && outputs[i] !== form(input)
        ? [{ input, postgres: outputs[i], strata: form(input) }]
        : [],
    );
    expect(changed).toEqual([]);
    // (a negative interval is refused, and an offset of seconds: both rare)
    expect(refusedOwn.filter((c) => !/^-| -|\+\d\d:\d\d:\d\d$| \+/.test(c))).toEqual([]);
    expect(canonical.length).toBeGreaterThan(50);
  },
);
