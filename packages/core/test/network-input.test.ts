// whyNotInet and whyNotMacaddr against a real Postgres: for every input, Strata refuses exactly what
// Postgres' inet, cidr, macaddr and macaddr8 input refuse. Inputs: the literals of Postgres'
// regression tests for these types, the quirks below, and thousands of strings near them.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { whyNotMacaddr } from '../src/schema/mac-input.js';
import { whyNotInet } from '../src/schema/network-input.js';
import { type InputOracle, inputOracle, nearInputs } from './support/postgres-input.js';

let oracle: InputOracle;
beforeAll(async () => {
  oracle = await inputOracle();
});
afterAll(() => oracle.end());

const inet = [
  // inet.sql
  '192.168.1',
  '192.168.1.226/24',
  '192.168.1.0/26',
  '192.168.1.2/30',
  '192.168.1.0/24',
  '192.168.1.226',
  '10',
  '10.1.2.3/8',
  '10.0.0.0',
  '10.1.2.3/32',
  '10.1.2',
  '10.1.2.3/24',
  '10.1',
  '10.1.2.3/16',
  '11.1.2.3/8',
  '9.1.2.3/8',
  '10:23::f1/64',
  '10:23::ffff',
  '::4.3.2.1/24',
  '::ffff:1.2.3.4',
  'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128',
  '10:23::8000/113',
  '192.168.1.2/24',
  '1234::1234::1234',
  '0.0.0.0/0',
  '::/0',
  '0.0.0.0',
  '255.255.255.255',
  '::1',
  // quirks of network_in
  '1.2.3.4.',
  '1.2.3./24',
  '010.001.002.003',
  '1.2.3.256',
  '1.2.3.4/33',
  '1.2.3.4/4294967328',
  '::1/129',
  '::1/01',
  '::1.02.3.4',
  '::1.2',
  '::.1.2.3',
  '::1./64',
  ':::',
  '1::2::3',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7::',
  '::1:2:3:4:5:6:7:8',
  '12345::',
  ' 1.2.3.4',
  '1.2.3.4 ',
  '',
  '0x0a/8',
  '0xc0a8/16',
  '224.1',
  '224',
  '233',
  '240',
  '239.255',
  '1.2.3.4.5',
];
const mac = [
  // macaddr.sql, macaddr8.sql
  '08:00:2b:01:02:03',
  '08-00-2b-01-02-03',
  '08002b:010203',
  '08002b-010203',
  '0800.2b01.0203',
  '0800-2b01-0203',
  '08002b010203',
  '0800:2b01:0203',
  'not even close',
  '08:00:2b:01:02:03:04:05',
  '08-00-2b-01-02-03-04-05',
  '08002b:0102030405',
  '08002b-0102030405',
  '0800.2b01.0203.0405',
  '0800-2b01-0203-0405',
  '08002b01:02030405',
  '08002b0102030405',
  '0800:2b01:0203:0405',
  '08002b:01020304',
  '08:00:2b:01:02:03:04:05:06:07',
  '08002b:01020304050607',
  '0800.2b01.0203.0405.0607',
  // quirks of sscanf's %x and of macaddr8_in
  ' 8:0:2b:1:2:3 ',
  '0x8:0:2b:1:2:3',
  '0x:0:2b:1:2:3',
  '+8:-0:2b:1:2:3',
  '-1:0:2b:1:2:3',
  '100:0:2b:1:2:3',
  '1000000ff:0:0:0:0:0',
  '-ffffffff:0:0:0:0:0',
  '08:00:2b:01:02:03x',
  '08:00:2b:01:02:03:04:05x',
  '08:00:2b:01:02:03:',
  '08:00-2b:01:02:03',
  '',
];

const kinds = [
  ['inet', inet, (s: string) => whyNotInet(s, false)],
  ['cidr', inet, (s: string) => whyNotInet(s, true)],
  ['macaddr', mac, (s: string) => whyNotMacaddr(s, false)],
  ['macaddr8', mac, (s: string) => whyNotMacaddr(s, true)],
] as const;
const alphabet = [
  '0',
  '1',
  '2',
  '5',
  '9',
  'a',
  'F',
  'x',
  ':',
  '.',
  '/',
  '-',
  '+',
  ' ',
  '::',
  '00',
  '255',
  '128',
];

it.each(kinds)('agrees with Postgres on every %s input', async (type, seeds, check) => {
  const inputs = [...new Set([...seeds, ...nearInputs(seeds, alphabet, 4000)])];
  const refusals = await oracle.refusals(type, inputs);
  const disagree: unknown[] = [];
  inputs.forEach((input, i) => {
    const ours = check(input);
    if ((refusals[i] === null) !== (ours === undefined))
      disagree.push({ input, postgres: refusals[i] ?? 'stored', strata: ours ?? 'accepted' });
  });
  expect(disagree).toEqual([]);
  // Both sides of the line are covered.
  expect(refusals.filter((r) => r === null).length).toBeGreaterThan(100);
  expect(refusals.filter((r) => r !== null).length).toBeGreaterThan(1000);
});
