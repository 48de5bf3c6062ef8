/**
 * The `strata()` Hono middleware in workerd, driven with `app.request(path, init, env, ctx)`: handlers
 * use `c.var.strata` (typed by the middleware's ContextVariableMap, no casts), deferred L2 fills go
 * to the request's `waitUntil`, the isolate keeps one Strata, and write-behind goes through the `WB`
 * queue binding to the fixture Worker's consumer.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { neon } from '@neondatabase/serverless';
import { type CompiledSchema, defineSchema, type Strata, StrataError } from '@strata/core';
import { drizzleMigrate } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpStatusOf, strata, strataErrors } from '../src/hono.js';
import { createStrata } from '../src/index.js';
import { WB_MAX_RETRY } from './fixtures/wb-app.js';
import { upstashCommand } from './support/upstash-rest.js';
import { type WbTestTable, waitFor, wbTestTable } from './support/write-behind.js';

const tableName = uniqueName('hono_players');
const keyPrefix = uniqueName('hono');
const wbPrefix = uniqueName('hono_wb');
const players = defineSchema({
  table: pgTable(tableName, {
    id: text('id').primaryKey(),
    username: text('username').notNull(),
    level: integer('level').notNull().default(1),
  }),
  l1: { ttl: '60s' },
  l2: { ttl: '5m' },
});

const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const sql = neon(env.DATABASE_URL);
/** Every Strata a handler saw, in request order. */
const seen: Strata[] = [];

/** A small API over `players`, as an app would write it. */
function playersApp(schemas: readonly CompiledSchema[] = [players]) {
  const app = new Hono<{ Bindings: Cloudflare.Env }>();
  app.use(strata({ schemas, keyPrefix }));
  app.get('/players/:id', async (c) => {
    seen.push(c.var.strata);
    const row = await c.var.strata.find(players, c.req.param('id'));
    return row ? c.json(row) : c.notFound();
  });
  app.put('/players/:id', async (c) => {
    seen.push(c.var.strata);
    const body = await c.req.json<{ username: string }>();
    return c.json(await c.var.strata.set(players, { id: c.req.param('id'), username: body.username }));
  });
  return app;
}

const app = playersApp();
const l2KeysOf = async (prefix: string, id: string) =>
  ((await upstashCommand(upstash, ['KEYS', `${prefix}:*`])) as string[]).filter((k) => k.endsWith(`:${id}`));

let t: WbTestTable;

beforeAll(async () => {
  // The same instance the middleware hands out for this env and schema list.
  await createStrata(env, { schemas: [players], keyPrefix, drizzleMigrate }).migrate();
  t = await wbTestTable('hono_wb');
});
afterAll(async () => {
  for (const instance of new Set(seen)) await instance.close();
  await createStrata(env, { schemas: [players], keyPrefix }).close();
  await sql.query(`drop table if exists "${tableName}"`);
  const keys = [
    ...((await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[]),
    ...((await upstashCommand(upstash, ['KEYS', `${wbPrefix}:*`])) as string[]),
  ];
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
  await t?.cleanup();
});

describe('strata() Hono middleware', () => {
  it('fills L2 after a miss through waitUntil, not before the response', async () => {
    await sql.query(`insert into "${tableName}" (id, username) values ('m1', 'from-postgres')`);
    const ctx = createExecutionContext();
    const res = await app.request('/players/m1', {}, env, ctx);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: 'm1', username: 'from-postgres', level: 1 });
    // The fill was handed to waitUntil: it may or may not have landed by now (the next test and
    // core's engine-deferred.test.ts show the response does not wait for it); after it, it has.
    await waitOnExecutionContext(ctx);
    expect(await l2KeysOf(keyPrefix, 'm1')).toHaveLength(1);
  });

  it('hands exactly the request deferred work to waitUntil', async () => {
    await sql.query(`insert into "${tableName}" (id, username) values ('m2', 'two')`);
    const handed: Promise<unknown>[] = [];
    const ctx = {
      waitUntil: (p: Promise<unknown>) => void handed.push(p),
      passThroughOnException() {},
      props: {},
    };
    const res = await app.request('/players/m2', {}, env, ctx);
    expect(res.status).toBe(200);
    expect(handed).toHaveLength(1);
    await Promise.all(handed);
    expect(await l2KeysOf(keyPrefix, 'm2')).toHaveLength(1);
  });

  it('awaits the deferred work itself where there is no execution context', async () => {
    await sql.query(`insert into "${tableName}" (id, username) values ('m3', 'three')`);
    const res = await app.request('/players/m3', {}, env); // no ctx: c.executionCtx throws
    expect(res.status).toBe(200);
    expect(await l2KeysOf(keyPrefix, 'm3')).toHaveLength(1); // landed before the response
  });

  it('reuses one Strata per env across requests; another schema list gets another', async () => {
    seen.length = 0;
    for (const path of ['/players/m1', '/players/m2']) {
      const ctx = createExecutionContext();
      await app.request(path, {}, env, ctx);
      await waitOnExecutionContext(ctx);
    }
    const ctx = createExecutionContext();
    await app.request('/players/p9', { method: 'PUT', body: JSON.stringify({ username: 'x' }) }, env, ctx);
    await waitOnExecutionContext(ctx);
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(1);
    expect(seen[0]).toBe(createStrata(env, { schemas: [players], keyPrefix }));
    // The second GET was an L1 hit on the isolate's instance.
    expect(seen[0]!.stats().hits.l1).toBeGreaterThanOrEqual(1);

    const wider = playersApp([players, t.schema]);
    await wider.request('/players/m1', {}, env, createExecutionContext());
    expect(seen).toHaveLength(4);
    expect(seen[3]).not.toBe(seen[0]);
  });

  it('writes behind through the WB queue binding: the set returns, the consumer lands it', async () => {
    const wb = new Hono<{ Bindings: Cloudflare.Env }>();
    wb.use(
      strata({
        schemas: [t.schema],
        queueBinding: 'WB',
        keyPrefix: wbPrefix,
        writeBehind: { maxRetry: WB_MAX_RETRY },
      }),
    );
    wb.put('/items/:id', async (c) => {
      seen.push(c.var.strata);
      const row = await c.var.strata.set(t.schema, { id: c.req.param('id'), name: 'ada', level: 4 });
      return c.json(row);
    });
    wb.get('/items/:id', async (c) => c.json(await c.var.strata.get(t.schema, c.req.param('id'))));

    const ctx = createExecutionContext();
    const res = await wb.request('/items/w1', { method: 'PUT' }, env, ctx);
    expect(await res.json()).toMatchObject({ id: 'w1', name: 'ada', level: 4 });
    await waitOnExecutionContext(ctx);
    // Acknowledged by the queue: the batch waits up to 0.5 s before delivery, so Postgres lacks it.
    expect(await t.row('w1')).toBeUndefined();
    expect(await l2KeysOf(wbPrefix, 'w1')).toHaveLength(1);

    const landed = await waitFor('w1 in Postgres', () => t.row('w1'));
    expect(landed).toEqual({ id: 'w1', name: 'ada', level: 4, note: null });
    // The consumer records its outcome after the row lands: awaited, so nothing it writes comes
    // after afterAll's cleanup (its log key would outlive the test).
    const acked = await waitFor('w1 acked in the consumer log', async () =>
      (await t.log()).find((entry) => entry.id === 'w1' && entry.outcome === 'acked'),
    );
    expect(acked).toMatchObject({ id: 'w1', attempts: 1 });
  });
});

describe('strataErrors(): Strata errors answered by meaning', () => {
  const logged: [string, number][] = [];
  const api = new Hono<{ Bindings: Cloudflare.Env }>();
  api.use(strata({ schemas: [players], keyPrefix }));
  api.onError(strataErrors({ log: (err, status) => void logged.push([String(err), status]) }));
  api.get('/players/:id', async (c) => c.json(await c.var.strata.get(players, c.req.param('id'))));
  api.put('/players/:id', async (c) => {
    // As a client sent it: Strata checks the row, not the handler.
    const body = await c.req.json<{ username: string; level: number }>();
    return c.json(await c.var.strata.set(players, { ...body, id: c.req.param('id') }));
  });
  api.get('/down', () => {
    throw new StrataError('L3_UNAVAILABLE', 'Postgres at 10.0.0.7 refused the connection');
  });
  api.get('/bug', () => {
    throw new TypeError('secret internals');
  });
  const call = async (path: string, init?: RequestInit) => {
    const res = await api.request(path, init, env, createExecutionContext());
    return { status: res.status, body: await res.json() };
  };

  it('a missing id is a 404, a bad row a 400 naming its field (nothing written), a tier down a 503 without its message, a bug a 500 with nothing internal', async () => {
    expect(await call('/players/nobody')).toEqual({
      status: 404,
      body: { error: `schema ${players.name}: no row with id nobody`, code: 'NOT_FOUND' },
    });
    const bad = await call('/players/e1', {
      method: 'PUT',
      body: JSON.stringify({ username: 'ada', level: 'x' }),
    });
    expect(bad).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED', field: 'level' } });
    expect(await call('/players/e1')).toMatchObject({ status: 404 });
    expect(await call('/down')).toEqual({
      status: 503,
      body: { error: 'unavailable, retry later', code: 'L3_UNAVAILABLE' },
    });
    expect(await call('/bug')).toEqual({ status: 500, body: { error: 'internal error' } });
    expect(logged).toEqual([
      ['StrataError: strata: Postgres at 10.0.0.7 refused the connection', 503],
      ['TypeError: secret internals', 500],
    ]);
    expect(httpStatusOf(new StrataError('TX_TIMEOUT'))).toBe(504);
    expect(httpStatusOf(new StrataError('INVALID_CONFIG'))).toBe(500);
  });
});
