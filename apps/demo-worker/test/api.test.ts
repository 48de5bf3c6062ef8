/**
 * The demo API end to end inside workerd: requests go to the demo Worker itself (`exports.default`,
 * the root wrangler.toml's `main`), Strata talks to the devstack's Upstash and Neon endpoints, and
 * write-behind scores travel through the real `strata-demo-writes` queue to the Worker's queue().
 * The tables are the demo's fixed `strata_demo.players` / `.scores`, in the database of this project
 * and run (DATABASE_URL, root vitest.config.ts): every row here has this run's id prefix and is
 * removed in afterAll; Redis keys live under this run's STRATA_KEY_PREFIX (vitest.config.ts).
 */
import { env, exports } from 'cloudflare:workers';
import { neon, neonConfig } from '@neondatabase/serverless';
import { createStrata } from '@strata/adapter-workers';
import { drizzleMigrate } from '@strata/core/drizzle';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { strataOptions } from '../src/env.js';

neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT;
const sql = neon(env.DATABASE_URL);
const run = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const alice = { id: `${run}-alice`, username: `alice_${run}`, email: 'alice@example.com' };
const bob = { id: `${run}-bob`, username: `bob_${run}` };

function api(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(`http://demo.test${path}`, init));
}

function send(method: string, path: string, body: unknown): Promise<Response> {
  return api(path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

interface Score {
  id: string;
  playerId: string;
  points: number;
}

beforeAll(async () => {
  // The demo's own tables, created additively if missing (what `npm run db:push` would do), and the
  // change capture its relay reads (what `npm start` installs with `strata capture install`).
  await createStrata(env, { ...strataOptions(env), drizzleMigrate }).migrate({ capture: true });
  // The change relay's first poll of a new app finds no position to resume from (a gap) and drops
  // every cached row, as it must. It rides on calls: made here, before the tests, it cannot land
  // between a test's write and its read (under load it did, and a read missed L1).
  await vi.waitUntil(
    async () => {
      await api(`/players/${run}-prime`); // a read: the relay rides on Strata's calls
      const stats = (await (await api('/stats')).json()) as {
        capture?: { relay?: { lastAppliedAt?: number } };
      };
      // Set once a poll has finished, its drop done (its `polls` count goes up when it starts).
      return (stats.capture?.relay?.lastAppliedAt ?? 0) > 0;
    },
    { timeout: 10_000, interval: 100 },
  );
});

afterAll(async () => {
  await sql`DELETE FROM strata_demo.scores WHERE player_id LIKE ${`${run}-%`}`;
  await sql`DELETE FROM strata_demo.players WHERE id LIKE ${`${run}-%`}`;
  // This run's Redis keys (rows, search lists, generations, the invalidation log).
  const redis = new Redis({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN });
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, { match: `${env.STRATA_KEY_PREFIX}:*`, count: 500 });
    if (keys.length > 0) await redis.del(...keys);
    cursor = String(next);
  } while (cursor !== '0');
});

describe('demo API', () => {
  it('GET /health answers', async () => {
    const res = await api('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('POST /players creates a player; GET /players/:id returns it with the email in plaintext', async () => {
    const created = await send('POST', '/players', alice);
    expect(created.status).toBe(201);
    expect(await json(created)).toMatchObject({ ...alice, level: 1 });

    const res = await api(`/players/${alice.id}`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ ...alice, level: 1 });
    // The create filled this isolate's L1: the read says so, fresh for L1's minute.
    expect(res.headers.get('Cache-Status')).toMatch(/^strata-l1; hit; ttl=(59|60)$/);

    expect((await send('POST', '/players', bob)).status).toBe(201);
  });

  it('stores the email as ciphertext in Postgres', async () => {
    const rows = await sql`SELECT email FROM strata_demo.players WHERE id = ${alice.id}`;
    expect(rows).toHaveLength(1);
    const stored = rows[0]?.email as string;
    expect(typeof stored).toBe('string');
    expect(stored.length).toBeGreaterThan(alice.email.length);
    expect(stored).not.toContain('alice');
    expect(stored).not.toContain('example.com');
  });

  it('rejects a bad body with 400 naming the field', async () => {
    const short = await send('POST', '/players', { id: `${run}-x`, username: 'ab' });
    expect(short.status).toBe(400);
    const shortBody = await json(short);
    expect(shortBody.field).toBe('username');
    expect(shortBody.code).toBe('VALIDATION_FAILED');
    expect(shortBody.error).toMatch(/^username: /);

    const missing = await send('POST', '/players', { username: `carol_${run}` });
    expect(missing.status).toBe(400);
    expect((await json(missing)).field).toBe('id');

    const email = await send('POST', '/players', { id: `${run}-y`, username: `yann_${run}`, email: 'nope' });
    expect(email.status).toBe(400);
    expect((await json(email)).field).toBe('email');

    const notJson = await send('POST', '/players', '{not json');
    expect(notJson.status).toBe(400);
    expect(await json(notJson)).toEqual({
      error: 'body: not valid JSON',
      code: 'VALIDATION_FAILED',
      field: 'body',
    });

    const badUpdate = await send('PUT', `/players/${alice.id}`, { level: 0 });
    expect(badUpdate.status).toBe(400);
    expect((await json(badUpdate)).field).toBe('level');

    // None of them reached Postgres.
    const rows = await sql`SELECT id FROM strata_demo.players WHERE id IN (${`${run}-x`}, ${`${run}-y`})`;
    expect(rows).toHaveLength(0);
  });

  it('answers 409 for a taken username (Postgres unique violation) and for a taken id', async () => {
    const taken = await send('POST', '/players', { id: `${run}-alice2`, username: alice.username });
    expect(taken.status).toBe(409);
    // The field and value Postgres names (constraint players_username_unique, `Key (username)=(…)`).
    expect(await json(taken)).toEqual({
      error: `username "${alice.username}" is already taken`,
      code: 'CONFLICT',
      field: 'username',
    });

    const sameId = await send('POST', '/players', { id: alice.id, username: `other_${run}` });
    expect(sameId.status).toBe(409);
    expect(await json(sameId)).toEqual({
      error: `id "${alice.id}" is already taken`,
      code: 'CONFLICT',
      field: 'id',
    });
    // Alice is unchanged.
    expect(await json(await api(`/players/${alice.id}`))).toMatchObject(alice);

    // Two creates of one new id at once: exactly one is created, the other refused; the player is
    // the winner's, not overwritten by the loser.
    const race = `${run}-prace`;
    const both = await Promise.all(
      [1, 2].map((n) => send('POST', '/players', { id: race, username: `race${n}_${run}` })),
    );
    expect(both.map((res) => res.status).sort()).toEqual([201, 409]);
    const winner = both.findIndex((res) => res.status === 201) + 1;
    expect((await json(await api(`/players/${race}`))).username).toBe(`race${winner}_${run}`);
    // Deleted, the id can be created again.
    expect((await api(`/players/${race}`, { method: 'DELETE' })).status).toBe(204);
    expect((await send('POST', '/players', { id: race, username: `again_${run}` })).status).toBe(201);
  });

  it('GET /players/:id of a missing player is 404 NOT_FOUND', async () => {
    const res = await api(`/players/${run}-nobody`);
    expect(res.status).toBe(404);
    expect(await json(res)).toMatchObject({ code: 'NOT_FOUND' });
    expect(res.headers.get('Cache-Status')).toBe('strata; fwd=miss; stored');
    expect((await send('PUT', `/players/${run}-nobody`, { level: 2 })).status).toBe(404);
  });

  it('PUT /players/:id updates the player in every tier', async () => {
    const res = await send('PUT', `/players/${alice.id}`, { level: 7 });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ ...alice, level: 7 });
    expect(body.updatedAt).toEqual(expect.any(String));

    expect(await json(await api(`/players/${alice.id}`))).toMatchObject({ ...alice, level: 7 });
    const rows = await sql`SELECT level, updated_at FROM strata_demo.players WHERE id = ${alice.id}`;
    expect(rows[0]).toMatchObject({ level: 7 });
    expect(rows[0]?.updated_at).not.toBeNull();
  });

  it('validates the leaderboard limit', async () => {
    for (const limit of ['0', '101', 'ten']) {
      const res = await api(`/leaderboard?limit=${limit}`);
      expect(res.status).toBe(400);
      expect((await json(res)).field).toBe('limit');
    }
  });

  it('POST /scores is queued (202), leads the leaderboard at once, and lands in Postgres through the queue consumer', async () => {
    // Near int4's maximum, so these lead the shared table's leaderboard.
    const points = [2_100_000_001, 2_100_000_003, 2_100_000_002];
    const ids = points.map((_, n) => `${run}-score-${n}`);
    for (const [n, id] of ids.entries()) {
      const res = await send('POST', '/scores', { id, playerId: alice.id, points: points[n] });
      expect(res.status).toBe(202);
      expect(await json(res)).toMatchObject({ queued: true, score: { id, playerId: alice.id } });
    }
    // A leaderboard read before the flush (the queue batch waits up to 1 s to fill) already ranks
    // the queued scores: a search lays acknowledged write-behind writes over Postgres. The list it
    // caches is retired by the flush, and the one read after it ranks them the same.
    const before = await api('/leaderboard?limit=100');
    expect(before.status).toBe(200);
    expect(
      (await json<Score[]>(before)).filter((score) => score.playerId === alice.id).map((score) => score.id),
    ).toEqual([ids[1], ids[2], ids[0]]);

    const unknownPlayer = await send('POST', '/scores', { playerId: `${run}-nobody`, points: 1 });
    expect(unknownPlayer.status).toBe(404);
    expect((await json(unknownPlayer)).code).toBe('NOT_FOUND');

    await vi.waitUntil(
      async () => {
        const rows = await sql`SELECT id FROM strata_demo.scores WHERE player_id = ${alice.id}`;
        return rows.length === ids.length;
      },
      { timeout: 15_000, interval: 100 },
    );
    const rows =
      await sql`SELECT id, points FROM strata_demo.scores WHERE player_id = ${alice.id} ORDER BY points DESC`;
    expect(rows).toEqual([
      { id: ids[1], points: points[1] },
      { id: ids[2], points: points[2] },
      { id: ids[0], points: points[0] },
    ]);

    const res = await api('/leaderboard?limit=100');
    expect(res.status).toBe(200);
    const board = await json<Score[]>(res);
    const all = board.map((score) => score.points);
    expect(all).toEqual([...all].sort((a, b) => b - a));
    expect(board.filter((score) => score.playerId === alice.id).map((score) => score.id)).toEqual([
      ids[1],
      ids[2],
      ids[0],
    ]);
  });

  it('POST /scores with a taken id is 409 naming the id, and overwrites nothing', async () => {
    const taken = (id: string) => ({ error: `id "${id}" is already taken`, code: 'CONFLICT', field: 'id' });
    // Taken by an earlier POST: still queued, not in Postgres yet.
    const queued = `${run}-dup`;
    expect((await send('POST', '/scores', { id: queued, playerId: alice.id, points: 7 })).status).toBe(202);
    const again = await send('POST', '/scores', { id: queued, playerId: alice.id, points: 8 });
    expect(again.status).toBe(409);
    expect(await json(again)).toEqual(taken(queued));

    // Two creates of one id at once: exactly one is taken.
    const race = `${run}-race`;
    const both = await Promise.all(
      [1, 2].map((points) => send('POST', '/scores', { id: race, playerId: alice.id, points })),
    );
    expect(both.map((res) => res.status).sort()).toEqual([202, 409]);

    // Taken in Postgres before any claim of it (written by something other than this API).
    const stored = `${run}-stored`;
    await sql`INSERT INTO strata_demo.scores (id, player_id, points) VALUES (${stored}, ${alice.id}, 5)`;
    const over = await send('POST', '/scores', { id: stored, playerId: alice.id, points: 6 });
    expect(over.status).toBe(409);
    expect(await json(over)).toEqual(taken(stored));

    // After the flush, Postgres holds the first write of each id and nothing of the refused ones.
    await vi.waitUntil(
      async () =>
        (await sql`SELECT id FROM strata_demo.scores WHERE id IN (${queued}, ${race})`).length === 2,
      { timeout: 15_000, interval: 100 },
    );
    const rows =
      await sql`SELECT id, points FROM strata_demo.scores WHERE id IN (${queued}, ${race}, ${stored}) ORDER BY id`;
    expect(rows).toEqual([
      { id: queued, points: 7 },
      { id: race, points: expect.any(Number) },
      { id: stored, points: 5 },
    ]);
    const winner = both.findIndex((res) => res.status === 202) + 1;
    expect(rows[1]?.points).toBe(winner);
  });

  it("GET /stats counts refused input (4xx) apart from errors: a taken username is the client's, not a failure", async () => {
    interface Counts {
      errors: number;
      errorsBy: Record<string, number>;
      rejected: number;
      responses: { clientErrors: number; serverErrors: number };
    }
    const before = await json<Counts>(await api('/stats'));
    expect((await send('POST', '/players', { id: `${run}-carol`, username: alice.username })).status).toBe(
      409,
    );
    expect((await api(`/players/${run}-nobody`)).status).toBe(404);
    expect((await send('POST', '/players', { id: `${run}-z`, username: 'z' })).status).toBe(400);
    const after = await json<Counts>(await api('/stats'));
    expect(after.errors).toBe(before.errors);
    expect(after.errorsBy).toEqual(before.errorsBy);
    // Postgres refused the username: counted, as input it refused.
    expect(after.rejected).toBe(before.rejected + 1);
    expect(after.responses).toEqual({
      clientErrors: before.responses.clientErrors + 3,
      serverErrors: before.responses.serverErrors,
    });
  });

  it('GET /stats reports hits and misses per tier', async () => {
    await api(`/players/${alice.id}`);
    const res = await api('/stats');
    expect(res.status).toBe(200);
    const stats = await json<{ gets: number; hits: Record<string, number>; misses: Record<string, number> }>(
      res,
    );
    expect(stats.gets).toBeGreaterThan(0);
    for (const tier of ['l1', 'l2', 'l3']) {
      expect(stats.hits[tier]).toEqual(expect.any(Number));
      expect(stats.misses[tier]).toEqual(expect.any(Number));
    }
    expect(Object.values(stats.hits).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('GET /stats adds latency per remote tier and the queue backlog Miniflare reports', async () => {
    await api(`/players/${alice.id}`);
    const stats = await json<{
      latency: Record<'l2' | 'l3', { calls: number; p50Ms: number; p99Ms: number }>;
      queueDepth: number | null;
    }>(await api('/stats'));
    expect(stats.latency.l2.calls).toBeGreaterThan(0);
    expect(stats.latency.l3.calls).toBeGreaterThan(0);
    expect(stats.latency.l2.p99Ms).toBeGreaterThanOrEqual(stats.latency.l2.p50Ms);
    // The demo's Queue binding answers metrics(): a number, not null (null means no queue at all).
    expect(stats.queueDepth).toEqual(expect.any(Number));
  });

  it('GET /dashboard is a self-contained page locked down by a per-request CSP nonce', async () => {
    const first = await api('/dashboard');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = first.headers.get('content-security-policy') ?? '';
    const nonce = /script-src 'nonce-([0-9a-f]{32})'/.exec(csp)?.[1];
    expect(nonce, csp).toBeDefined();
    expect(csp).toContain("default-src 'none'");
    const html = await first.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    for (const id of ['chart-hits', 'chart-latency', 'chart-queue']) expect(html).toContain(`id="${id}"`);
    // Nothing loaded from elsewhere: no absolute URL in any src/href.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    // uPlot comes from the Worker, under the page's nonce, its version in the name.
    const script = /<script src="(dashboard\/uplot-[\d.]+\.min\.js)" nonce="([0-9a-f]{32})">/.exec(html);
    const style =
      /<link rel="stylesheet" href="(dashboard\/uplot-[\d.]+\.min\.css)" nonce="([0-9a-f]{32})">/.exec(html);
    expect(script?.[2]).toBe(nonce);
    expect(style?.[2]).toBe(nonce);
    for (const [path, type, text] of [
      [script![1], /^text\/javascript/, 'uPlot'],
      [style![1], /^text\/css/, '.u-legend'],
    ] as const) {
      const asset = await api(`/${path}`);
      expect(asset.status, path).toBe(200);
      expect(asset.headers.get('content-type')).toMatch(type);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(await asset.text()).toContain(text);
    }
    expect((await api('/dashboard/uplot-0.0.0.min.js')).status).toBe(404);
    const second = await api('/dashboard');
    expect(second.headers.get('content-security-policy')).not.toBe(csp);
  });

  it('DELETE /players/:id removes the player', async () => {
    const res = await api(`/players/${bob.id}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect((await api(`/players/${bob.id}`)).status).toBe(404);
    expect((await api(`/players/${bob.id}`, { method: 'DELETE' })).status).toBe(404);
    expect(await sql`SELECT id FROM strata_demo.players WHERE id = ${bob.id}`).toHaveLength(0);
  });
});
