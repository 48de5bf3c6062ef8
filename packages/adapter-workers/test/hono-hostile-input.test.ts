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
import { jsonb, numeric, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
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

/**
 * Open (it.fails): a string-mode date/time column (`timestamp`, `date`, `time`, `interval` with
 * `mode: 'string'`; `inet`, `cidr`, `macaddr` likewise) takes any string, so a value its Postgres
 * type refuses ('not a date': 22007) is acknowledged by a write-behind set and served until its flush
 * dead-letters it. Proposed fix: check those columns against what Postgres' input takes, held to a
 * real Postgres as `packages/core/test/numeric-input.test.ts` holds the numeric check (Postgres'
 * datetime input takes many forms: 'epoch', 'infinity', 'today', time zone names; refusing one it
 * takes would be a regression, so the check needs that table first).
 */
it.fails('refuses a string-mode timestamp Postgres cannot read (22007)', async () => {
  const body = { id: 't1', at: 'not a date' };
  expect(await pg.query(`select $1::timestamp`, [body.at]).catch((err: { code?: string }) => err.code)).toBe(
    '22007',
  );
  const sent = bodies.length;
  expect(await call('POST', '/items', body)).toEqual({
    status: 400,
    body: { code: 'VALIDATION_FAILED', field: 'at' },
  });
  expect(bodies.length).toBe(sent);
});
