/**
 * Hostile input at the demo Worker's HTTP edge, inside workerd: odd ids in the path and in bodies,
 * bodies that are not objects, huge bodies. Each gets a typed 4xx, and nothing reaches Postgres.
 */
import { env, exports } from 'cloudflare:workers';
import { neon, neonConfig } from '@neondatabase/serverless';
import { createStrata } from '@strata/adapter-workers';
import { drizzleMigrate } from '@strata/core/drizzle';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { strataOptions } from '../src/env.js';

neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT;
const sql = neon(env.DATABASE_URL);
const run = `e${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

const api = (path: string, init?: RequestInit) =>
  exports.default.fetch(new Request(`http://demo.test${path}`, init));
const send = (method: string, path: string, body: unknown) =>
  api(path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

beforeAll(async () => {
  await createStrata(env, { ...strataOptions(env), drizzleMigrate }).migrate({ capture: true });
});

afterAll(async () => {
  await sql`DELETE FROM strata_demo.scores WHERE player_id LIKE ${`${run}%`}`;
  await sql`DELETE FROM strata_demo.players WHERE id LIKE ${`${run}%`}`;
  // This file's Redis keys only (id claims, cached rows): api.test.ts may still be using the prefix.
  const redis = new Redis({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN });
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, { match: `${env.STRATA_KEY_PREFIX}:*${run}*`, count: 500 });
    if (keys.length > 0) await redis.del(...keys);
    cursor = String(next);
  } while (cursor !== '0');
});

/** The status and JSON body of a response. */
async function answer(res: Promise<Response>) {
  const r = await res;
  return { status: r.status, body: (await r.json()) as { code?: string; field?: string } };
}

describe('demo API: hostile input', () => {
  it('odd ids in the path (NUL, 5,000 characters, invalid UTF-8) get a typed 4xx from every route', async () => {
    const nul = `/players/${run}%00x`;
    const refusedId = { status: 400, body: { code: 'MISSING_PRIMARY_KEY' } };
    expect(await answer(api(nul))).toMatchObject(refusedId);
    expect(await answer(api(nul, { method: 'DELETE' }))).toMatchObject(refusedId);
    expect(await answer(send('PUT', nul, { level: 2 }))).toMatchObject(refusedId);
    expect(await answer(api(`/players/${run}${'x'.repeat(5000)}`))).toMatchObject(refusedId);
    expect(await answer(api(`/players/${run}%F0%9F%98%80%ED%A0%80`))).toMatchObject({
      status: 404,
      body: { code: 'NOT_FOUND' },
    });
  });

  it('bodies with a NUL, a lone surrogate, no object, or 5 MB are 400 and create nothing', async () => {
    const bad = [
      send('POST', '/players', { id: `${run}\u0000a`, username: `u_${run}a` }),
      send('POST', '/players', { id: `${run}-b`, username: `u_${run}\u0000` }),
      send('POST', '/players', { id: `${run}-c\uD800`, username: `u_${run}c` }),
      send('POST', '/players', 'null'),
      send('POST', '/players', '[]'),
      send('POST', '/players', { id: `${run}-d`, username: 'x'.repeat(5_000_000) }),
      send('POST', '/scores', { playerId: `${run}\u0000`, points: 1 }),
      send('POST', '/scores', { playerId: `${run}-b`, points: 1e300 }),
    ];
    for (const res of bad) expect((await answer(res)).status).toBe(400);
    expect(await sql`SELECT id FROM strata_demo.players WHERE id LIKE ${`${run}%`}`).toEqual([]);
    expect(await sql`SELECT id FROM strata_demo.scores WHERE player_id LIKE ${`${run}%`}`).toEqual([]);
    // The ids whose create failed were given back: a good create of one of them succeeds.
    const created = await answer(send('POST', '/players', { id: `${run}-b`, username: `u_${run}b` }));
    expect(created.status).toBe(201);
  });
});
