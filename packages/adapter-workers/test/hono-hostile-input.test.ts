/**
 * Hostile input through a Hono route of a write-behind schema, in workerd: a value Postgres will
 * refuse must be refused at `set` with VALIDATION_FAILED (400 here) and touch no tier. A write-behind
 * `set` is acknowledged before Postgres sees the row, so a value the row check lets through is
 * queued, served from L2 by every isolate (and laid over every search) until its flush fails
 * `maxRetry` times and dead-letters it: the client was told 202 for a write that can never land.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { neon } from '@neondatabase/serverless';
import { defineSchema, isStrataError } from '@strata/core';
import { drizzleMigrate } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import {
  cidr,
  date,
  inet,
  interval,
  jsonb,
  macaddr,
  macaddr8,
  numeric,
  pgTable,
  text,
  time,
  timestamp,
} from 'drizzle-orm/pg-core';
import { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { strata } from '../src/hono.js';
import { createStrata } from '../src/index.js';
import { keptQueue } from './support/kept-queue.js';
import { upstashCommand } from './support/upstash-rest.js';

const tableName = uniqueName('hostile_items');
const keyPrefix = uniqueName('hostile');
const items = defineSchema({
  table: pgTable(tableName, {
    id: text('id').primaryKey(),
    amount: numeric('amount', { precision: 6, scale: 2 }),
    ratio: numeric('ratio', { precision: 4, scale: 2, mode: 'number' }),
    meta: jsonb('meta'),
    at: timestamp('at', { mode: 'string' }),
    atz: timestamp('atz', { mode: 'string', withTimezone: true }),
    day: date('day', { mode: 'string' }),
    clock: time('clock'),
    clockz: time('clockz', { withTimezone: true }),
    span: interval('span'),
    host: inet('host'),
    net: cidr('net'),
    mac: macaddr('mac'),
    mac8: macaddr8('mac8'),
  }),
  writeMode: 'write-behind',
});
const pg = neon(env.DATABASE_URL);
const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const { bodies, producer } = keptQueue();
// The env object the middleware builds its Strata from: the devstack's bindings and a queue that keeps what it is sent.
const bindings = { ...env, KEPT: producer };

const app = new Hono();
app.use(strata({ env: bindings, schemas: [items], keyPrefix, queueBinding: 'KEPT' }));
app.onError((err, c) => {
  if (isStrataError(err, 'VALIDATION_FAILED')) {
    return c.json({ code: err.code, field: (err.details as { field?: string }).field ?? null }, 400);
  }
  return c.json({ code: isStrataError(err) ? err.code : 'UNKNOWN', error: String(err) }, 500);
});
app.post('/items', async (c) => c.json(await c.var.strata.set(items, await c.req.json()), 202));
app.get('/items/:id', async (c) => c.json(await c.var.strata.find(items, c.req.param('id'))));

async function call(method: string, path: string, body?: unknown) {
  const ctx = createExecutionContext();
  const res = await app.request(
    path,
    body === undefined
      ? { method }
      : { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
    undefined,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as unknown };
}

beforeAll(async () => {
  // The instance the middleware hands out (same env object and schema list), with the DDL planner.
  await createStrata(bindings, {
    schemas: [items],
    keyPrefix,
    queueBinding: 'KEPT',
    drizzleMigrate,
  }).migrate();
});
afterAll(async () => {
  await createStrata(bindings, { schemas: [items], keyPrefix, queueBinding: 'KEPT' }).close();
  await pg.query(`drop table if exists "${tableName}"`);
  await pg.query('delete from _strata_versions where schema = $1', [tableName]);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
});

it.each([
  ['a numeric that is no number', { id: 'n1', amount: 'abc' }, 'amount', '22P02'],
  ['a numeric past its precision', { id: 'n2', amount: '12345.67' }, 'amount', '22003'],
  ['a number-mode numeric past its precision', { id: 'n3', ratio: 123.4 }, 'ratio', '22003'],
  ['a jsonb string with a NUL', { id: 'n4', meta: { note: 'a\u0000b' } }, 'meta', '22P05'],
  ['a jsonb key with a NUL', { id: 'n5', meta: { 'a\u0000': 1 } }, 'meta', '22P05'],
])(
  'refuses %s with VALIDATION_FAILED: nothing queued, no tier holds it',
  async (_what, body, field, sqlState) => {
    // What Postgres itself says of the value (the flush would have dead-lettered it with this SQLSTATE).
    const column = Object.keys(body).find((k) => k !== 'id')!;
    const value = (body as Record<string, unknown>)[column];
    const refused = await pg
      .query(
        `select $1::${column === 'meta' ? 'jsonb' : column === 'amount' ? 'numeric(6, 2)' : 'numeric(4, 2)'}`,
        [typeof value === 'object' ? JSON.stringify(value) : value],
      )
      .then(
        () => 'stored',
        (err: { code?: string }) => err.code,
      );
    expect(refused).toBe(sqlState);

    const sent = bodies.length;
    expect(await call('POST', '/items', body)).toEqual({
      status: 400,
      body: { code: 'VALIDATION_FAILED', field },
    });
    expect(bodies.length).toBe(sent);
    expect(await call('GET', `/items/${body.id}`)).toEqual({ status: 200, body: null });
  },
);

it('takes the same columns with values Postgres stores: 202, queued', async () => {
  const body = {
    id: 'ok',
    amount: ' -1234.5e0 ',
    ratio: -99.99,
    meta: { note: 'a\\u0000b', list: [1, 'x'] },
  };
  const sent = bodies.length;
  expect(await call('POST', '/items', body)).toMatchObject({ status: 202 });
  expect(bodies.length).toBe(sent + 1);
  for (const [column, type] of [
    ['amount', 'numeric(6, 2)'],
    ['ratio', 'numeric(4, 2)'],
    ['meta', 'jsonb'],
  ] as const) {
    const value = body[column];
    await pg.query(`select $1::${type}`, [typeof value === 'object' ? JSON.stringify(value) : value]);
  }
});

/** Each column's Postgres type, for asking Postgres itself what it says of a value. */
const SQL_TYPES: Record<string, string> = {
  at: 'timestamp',
  atz: 'timestamptz',
  day: 'date',
  clock: 'time',
  clockz: 'timetz',
  span: 'interval',
  host: 'inet',
  net: 'cidr',
  mac: 'macaddr',
  mac8: 'macaddr8',
};

/**
 * String-mode date/time columns and the network types used to take any string, so a value their
 * Postgres type refuses ('not a date': 22007) was acknowledged by a write-behind set, served from L2
 * and laid over searches until its flush dead-lettered it. The checks (schema/datetime-input.ts,
 * network-input.ts, mac-input.ts) are held to a real Postgres by packages/core/test/*-input.test.ts.
 */
it.each([
  ['at', 'not a date', '22007'],
  ['at', '', '22007'],
  ['at', '2020-13-45', '22008'],
  ['atz', '2021-02-29 10:00+02', '22008'],
  ['day', 'abc', '22007'],
  ['day', '2020-04-31', '22008'],
  ['clock', 'noon', '22007'],
  ['clockz', 'é10:00', '22007'],
  ['span', 'a while', '22007'],
  ['host', '1.2.3.256', '22P02'],
  ['host', '::1::2', '22P02'],
  ['net', '10.1.2.3/8', '22P02'],
  ['mac', '08:00:2b:01:02', '22P02'],
  ['mac8', '08:00:2b:01:02:03:04', '22P02'],
] as const)(
  'refuses %s = %j, which Postgres refuses (%s): 400, nothing queued, no tier holds it',
  async (column, value, sqlState) => {
    const refused = await pg.query(`select $1::${SQL_TYPES[column]}`, [value]).then(
      () => 'stored',
      (err: { code?: string }) => err.code,
    );
    expect(refused).toBe(sqlState);
    const id = `${column}-${sqlState}-${value.length}`;
    const sent = bodies.length;
    expect(await call('POST', '/items', { id, [column]: value })).toEqual({
      status: 400,
      body: { code: 'VALIDATION_FAILED', field: column },
    });
    expect(bodies.length).toBe(sent);
    expect(await call('GET', `/items/${id}`)).toEqual({ status: 200, body: null });
  },
);

it('takes the forms of those columns that Postgres stores, in the form Postgres answers: 202, queued', async () => {
  // Write-behind caches the row before Postgres sees it: date/time text as Postgres answers it (the
  // session's DateStyle, TimeZone and IntervalStyle decide it), the network types in any form they
  // take, answered as Postgres answers them (see docs/semantics.md, "Values as Postgres stores them").
  const body = {
    id: 'forms',
    at: '1999-01-08 04:05:06',
    atz: '1970-01-01 00:00:00+00',
    day: '1999-01-08',
    clock: '00:00:00',
    clockz: '04:05:06.789-08',
    span: '1 year 2 mons 3 days 04:05:06',
    host: '10.1/16',
    net: '0x0a/8',
    mac: '0800.2b01.0203',
    mac8: '08-00-2b-01-02-03',
  };
  const sent = bodies.length;
  expect(await call('POST', '/items', body)).toMatchObject({ status: 202 });
  expect(bodies.length).toBe(sent + 1);
  const stored: Record<string, unknown> = { ...body };
  for (const [column, type] of Object.entries(SQL_TYPES)) {
    const [row] = await pg.query(`select $1::${type} as v`, [body[column as keyof typeof body]]);
    stored[column] = row!.v;
  }
  expect(stored).toMatchObject({
    host: '10.1.0.0/16',
    net: '10.0.0.0/8',
    mac: '08:00:2b:01:02:03',
    mac8: '08:00:2b:ff:fe:01:02:03',
  });
  expect(await call('GET', '/items/forms')).toMatchObject({ status: 200, body: stored });
});

it.each([
  ['at', 'January 8, 1999 04:05:06 PST'],
  ['atz', 'epoch'],
  ['day', 'J2451187'],
  ['clock', 'allballs'],
  ['clockz', '04:05:06.789-8'],
  ['span', 'P1Y2M3DT4H5M6S'],
] as const)(
  'refuses %s = %j, which Postgres takes but answers otherwise: 400, nothing queued',
  async (column, value) => {
    const sent = bodies.length;
    expect(await call('POST', '/items', { id: `other-${column}`, [column]: value })).toEqual({
      status: 400,
      body: { code: 'VALIDATION_FAILED', field: column },
    });
    expect(bodies.length).toBe(sent);
    expect(await call('GET', `/items/other-${column}`)).toEqual({ status: 200, body: null });
  },
);
