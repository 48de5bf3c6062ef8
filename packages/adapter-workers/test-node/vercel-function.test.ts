import { createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { defineSchema } from '@strata/core';
import { serviceUrls, testDevstack, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Hono } from 'hono';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { strata } from '../src/hono.js';

// A Vercel function on the Node runtime: settings from a plain env object (process.env there), no
// execution context, write-behind through the durable Redis Stream queue, drained by a cron route.
const name = uniqueName('vercel_fn');
const table = pgSchema(name).table('scores', {
  id: text('id').primaryKey(),
  points: integer('points').notNull(),
});
const scores = defineSchema({ table, name: 'scores', writeMode: 'write-behind' });
const { upstash, neon } = testDevstack();
const env = {
  UPSTASH_REDIS_REST_URL: upstash!.url,
  UPSTASH_REDIS_REST_TOKEN: upstash!.token,
  DATABASE_URL: neon.connectionString,
  NEON_FETCH_ENDPOINT: neon.httpUrl,
};
const pool = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 2 });
// allowVolatile: this machine's Redis has no AOF (a deployment's must have it; see docs/workers.md).
const queue = createRedisStreamQueue({ url: serviceUrls().redisUrl, keyPrefix: name, allowVolatile: true });

// What a user writes in api/[[...route]].ts, with `export const GET = app.fetch; export const POST = app.fetch;`.
const app = new Hono()
  // migrationsSchema: Strata's own tables in this file's schema too, dropped with it.
  .use(strata({ schemas: [scores], env, writeBehind: { queue }, keyPrefix: name, migrationsSchema: name }))
  .get('/api/scores/:id', async (c) => c.json(await c.var.strata.get(scores, c.req.param('id'))))
  .post('/api/scores', async (c) => {
    const body = (await c.req.json()) as { id: string; points: number };
    return c.json(await c.var.strata.set(scores, body), 202);
  })
  // A Vercel cron hits this: it drains what the functions queued.
  .get('/api/flush', async (c) => {
    await c.var.strata.flushDirty();
    return c.json({ depth: await c.var.strata.queueDepth() });
  });

beforeAll(async () => {
  await pool.query(`create schema if not exists "${name}"`);
  await pool.query(`create table "${name}".scores (id text primary key, points integer not null)`);
});

afterAll(async () => {
  await pool.query(`drop schema if exists "${name}" cascade`);
  await queue.close();
  await pool.end();
  // This file's L2 keys and queue stream, through the devstack's Upstash endpoint.
  const { upstash } = testDevstack();
  const command = async (args: unknown[]) => {
    const response = await fetch(upstash!.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${upstash!.token}` },
      body: JSON.stringify(args),
    });
    return ((await response.json()) as { result: unknown }).result;
  };
  const keys = (await command(['KEYS', `${name}:*`])) as string[];
  if (keys.length > 0) await command(['DEL', ...keys]);
});

it('serves reads and queues writes from process.env-style settings; the cron route lands them', async () => {
  const post = await app.fetch(
    new Request('http://fn.local/api/scores', {
      method: 'POST',
      body: JSON.stringify({ id: 's1', points: 7 }),
      headers: { 'content-type': 'application/json' },
    }),
  );
  expect(post.status).toBe(202);
  const db = drizzle({ client: pool });
  expect(await db.select().from(table)).toEqual([]); // queued, not yet in Postgres
  expect(await queue.pending()).toBe(1);
  // Another function invocation (same env object: same instance) reads it from the caches.
  const read = await app.fetch(new Request('http://fn.local/api/scores/s1'));
  expect(await read.json()).toEqual({ id: 's1', points: 7 });

  const flush = await app.fetch(new Request('http://fn.local/api/flush'));
  expect(await flush.json()).toEqual({ depth: 0 });
  expect(await db.select().from(table)).toEqual([{ id: 's1', points: 7 }]);
});
