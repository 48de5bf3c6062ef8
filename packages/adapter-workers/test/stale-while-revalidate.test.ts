/**
 * Stale-while-revalidate in workerd, through the Hono middleware: a read past its TTL answers the
 * stale row in its response, and the refresh it started lands through the request's `waitUntil`
 * (the isolate would otherwise be free to stop it), over the devstack's Upstash REST and Neon HTTP.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { neon } from '@neondatabase/serverless';
import { defineSchema } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { drizzleMigrate } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { strata } from '../src/hono.js';
import { createStrata } from '../src/index.js';
import { upstashCommand } from './support/upstash-rest.js';

const tableName = uniqueName('swr_players');
const keyPrefix = uniqueName('swr');
const players = defineSchema({
  table: pgTable(tableName, {
    id: text('id').primaryKey(),
    username: text('username').notNull(),
    level: integer('level').notNull().default(1),
  }),
  l1: { ttl: '10s' },
  l2: { ttl: '10s' },
  stale: '1m',
});
const clock = manualClock();
// drizzleMigrate: this test creates its table with migrate() (a Worker's L3 bundles no planner otherwise).
const options = { schemas: [players], keyPrefix, clock, drizzleMigrate };
const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const sql = neon(env.DATABASE_URL);

const app = new Hono<{ Bindings: Cloudflare.Env }>();
app.use(strata(options));
app.get('/players/:id', async (c) => c.json(await c.var.strata.get(players, c.req.param('id'))));
app.put('/players/:id', async (c) => {
  const body = await c.req.json<{ username: string }>();
  return c.json(await c.var.strata.set(players, { id: c.req.param('id'), username: body.username }));
});

beforeAll(async () => {
  await createStrata(env, options).migrate();
});
afterAll(async () => {
  await createStrata(env, options).close();
  await sql.query(`drop table if exists "${tableName}"`);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
});

it('answers the stale row, and its refresh lands through waitUntil', async () => {
  const put = createExecutionContext();
  await app.request('/players/s1', { method: 'PUT', body: JSON.stringify({ username: 'before' }) }, env, put);
  await waitOnExecutionContext(put);
  await sql.query(`update "${tableName}" set username = 'after' where id = 's1'`);
  clock.advance(11_000);

  const handed: Promise<unknown>[] = [];
  const ctx = {
    waitUntil: (p: Promise<unknown>) => void handed.push(p),
    passThroughOnException() {},
    props: {},
  };
  const stale = await app.request('/players/s1', {}, env, ctx);
  expect(await stale.json()).toMatchObject({ id: 's1', username: 'before' });
  const instance = createStrata(env, options);
  expect(instance.stats()).toMatchObject({ staleHits: 1, refreshes: 1 });
  // The refresh was handed to the request's waitUntil: once that settles, the row is fresh.
  expect(handed).toHaveLength(1);
  await Promise.all(handed);
  const l3Reads = instance.stats().l3Reads;
  expect(l3Reads).toBe(1);
  // The refresh's L2 fill landed too, before waitUntil let go: deployed, the isolate may stop work
  // still running after it. Another isolate (its own Strata: another env object) reads L2's copy.
  const other = createStrata({ ...env }, options);
  expect(await other.get(players, 's1')).toMatchObject({ username: 'after' });
  expect(other.stats()).toMatchObject({ l3Reads: 0 });
  await other.close();

  const next = createExecutionContext();
  const fresh = await app.request('/players/s1', {}, env, next);
  await waitOnExecutionContext(next);
  expect(await fresh.json()).toMatchObject({ id: 's1', username: 'after' });
  expect(instance.stats()).toMatchObject({ staleHits: 1, refreshes: 1, l3Reads: 1 });
});
