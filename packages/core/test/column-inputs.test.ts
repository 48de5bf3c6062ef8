// Row validation against a real Postgres, column type by column type: every value Strata's row check
// lets through, inserted by Drizzle (node-postgres) into a real table, is stored; and the values each
// type refuses beyond its TypeScript type (real underflow, a line with A = B = 0, a Date past what
// toISOString() writes as Postgres reads it, ragged arrays, the string-mode inputs) are refused by both.
import { dropScratchSchema, serviceUrls, uniqueName } from '@strata/devstack/testing';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import * as c from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isStrataError } from '../src/errors.js';
import { defineSchema } from '../src/schema/define-schema.js';

const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 1 });
const db = drizzle(pool);
const scratch = uniqueName('column_inputs');
const schema = c.pgSchema(scratch);
const mood = schema.enum('mood', ['sad', 'ok']);
const table = schema.table('cols', {
  id: c.text('id').primaryKey(),
  u: c.uuid('u'),
  vc: c.varchar('vc', { length: 3 }),
  ch: c.char('ch', { length: 3 }),
  si: c.smallint('si'),
  bb: c.bigint('bb', { mode: 'bigint' }),
  r: c.real('r'),
  d: c.doublePrecision('d'),
  m: mood('m'),
  jb: c.jsonb('jb'),
  p: c.point('p'),
  l: c.line('l'),
  la: c.line('la', { mode: 'abc' }),
  ts: c.timestamp('ts'),
  tstz: c.timestamp('tstz', { withTimezone: true }),
  dt: c.date('dt', { mode: 'date' }),
  ra: c.real('ra').array(),
  iaa: c.integer('iaa').array().array(),
  tsa: c.timestamp('tsa', { mode: 'string' }).array(),
  ina: c.inet('ina').array(),
  ja: c.jsonb('ja').array(),
});
const rows = defineSchema({ table });

beforeAll(async () => {
  await pool.query(`create schema "${scratch}"; create type "${scratch}".mood as enum ('sad', 'ok');
    create table "${scratch}".cols (id text primary key, u uuid, vc varchar(3), ch char(3), si smallint,
      bb bigint, r real, d double precision, m "${scratch}".mood, jb jsonb, p point, l line, la line,
      ts timestamp, tstz timestamptz, dt date, ra real[], iaa integer[][], tsa timestamp[], ina inet[], ja jsonb[])`);
});
afterAll(async () => {
  await dropScratchSchema(pool, scratch);
  await pool.end();
});

/** Values each column's type takes: Strata must pass them and Postgres store them. */
const taken: [string, unknown][] = [
  ['u', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
  ['vc', 'ab '],
  ['ch', 'abc'],
  ['si', -32_768],
  ['bb', 2n ** 63n - 1n],
  ['r', 1e-40],
  ['r', -1e-45],
  ['r', 8_388_607],
  ['d', 5e-324],
  ['m', 'ok'],
  ['jb', { a: 1e308, b: '\u0001' }],
  ['p', [1e308, -5e-324]],
  ['l', [1, 0, 1]],
  ['l', [0, 2e-6, 0]],
  ['la', { a: 0, b: -1, c: 5 }],
  ['ts', new Date('0001-01-01T00:00:00Z')],
  ['ts', new Date('9999-12-31T23:59:59.999Z')],
  ['tstz', new Date(0)],
  ['dt', new Date('2020-02-29T00:00:00Z')],
  ['ra', [1e-40, 0, -0]],
  [
    'iaa',
    [
      [1, 2],
      [3, 4],
    ],
  ],
  ['iaa', []],
  ['tsa', ['epoch', 'January 8, 1999']],
  ['ina', ['10.1/16', '::1']],
  // Items of a jsonb[] are JSON values: arrays among them are no sub-arrays.
  ['ja', [[1, 2], [3], []]],
];
/** Values Postgres refuses although their TypeScript type fits: both must refuse them. */
const refused: [string, unknown][] = [
  ['r', 1e-50],
  ['r', 5e-324],
  ['l', [0, 0, 1]],
  ['l', [1e-7, 0, 1]],
  ['la', { a: 0, b: 0, c: 5 }],
  ['ts', new Date('0000-06-01T00:00:00Z')],
  ['ts', new Date(-8_640_000_000_000_000)],
  ['ts', new Date('+010000-01-01T00:00:00Z')],
  ['tstz', new Date(8_640_000_000_000_000)],
  ['dt', new Date('-000001-01-01T00:00:00Z')],
  ['ra', [1, 1e-50]],
  ['iaa', [[1], [1, 2]]],
  ['iaa', [[], []]],
  ['iaa', [[1], []]],
  ['tsa', ['epoch', 'not a date']],
  ['ina', ['::1', '1.2.3.256']],
];

async function outcome(column: string, value: unknown, n: number) {
  const row = { id: `${column}-${n}`, [column]: value };
  const strata = await rows.validate(row).then(
    () => 'accepted',
    (err: unknown) => (isStrataError(err, 'VALIDATION_FAILED') ? 'refused' : String(err)),
  );
  const postgres = await db
    .insert(table)
    .values(row as typeof table.$inferInsert)
    .then(
      () => 'stored',
      (err: { cause?: { code?: string } }) => err.cause?.code ?? String(err),
    );
  await db.delete(table).where(eq(table.id, row.id));
  return { column, value, strata, postgres };
}

it('passes every value Postgres stores', async () => {
  const results = [];
  for (const [i, [column, value]] of taken.entries()) results.push(await outcome(column, value, i));
  expect(results.filter((r) => r.strata !== 'accepted' || r.postgres !== 'stored')).toEqual([]);
});

it('refuses the values Postgres refuses although their TypeScript type fits', async () => {
  const results = [];
  for (const [i, [column, value]] of refused.entries()) results.push(await outcome(column, value, i));
  expect(results.filter((r) => r.strata !== 'refused' || r.postgres === 'stored')).toEqual([]);
});
