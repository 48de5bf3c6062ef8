import { httpStatusOf, strata } from '@strata/adapter-workers/hono';
import { isStrataError, Q, StrataError } from '@strata/core';
import { cacheStatusHeader } from '@strata/core/driver';
import { type Context, Hono } from 'hono';
import type { z } from 'zod';
import { dashboardAssets } from './dashboard/assets.js';
import { dashboardCsp, dashboardPage } from './dashboard/page.js';
import { playerSchema, scoreSchema } from './db/strata-schemas.js';
import { type Env, strataOptions } from './env.js';
import { conflictBody, errorBody } from './errors.js';
import { claimId, releaseId } from './id-claim.js';
import { countResponse, responseCounts } from './response-counts.js';
import {
  createPlayerBody,
  createScoreBody,
  leaderboardQuery,
  updatePlayerBody,
  validationError,
} from './validation.js';

type AppEnv = { Bindings: Env };

export const app = new Hono<AppEnv>();

// First, so it sees every response, the ones onError made included: /stats reports 4xx apart from 5xx.
app.use(async (c, next) => {
  await next();
  countResponse(c.res.status);
});

// Before the Strata middleware: the health check answers even when the bindings are incomplete.
app.get('/health', (c) => c.json({ ok: true }));

/** The dashboard's chart library: versioned names, so cached for a year. Needs no binding either. */
app.get('/dashboard/:asset', (c) => {
  const asset = dashboardAssets.get(c.req.param('asset'));
  if (!asset) return c.json({ error: `no asset ${c.req.param('asset')}`, code: 'NOT_FOUND' }, 404);
  return c.body(asset.body, 200, {
    'Content-Type': asset.contentType,
    'Cache-Control': 'public, max-age=31536000, immutable',
    'X-Content-Type-Options': 'nosniff',
  });
});

// One Strata per isolate (createStrata caches it per env), on c.var.strata for every route below.
app.use((c, next) => strata(strataOptions(c.env))(c, next));

app.onError((err, c) => {
  const status = httpStatusOf(err);
  if (status >= 500) console.error(err);
  return c.json(errorBody(err, status), status);
});

/** The request's JSON body checked against `schema`: the data, or the 400 response naming the field. */
async function readBody<T extends z.ZodType>(
  c: Context<AppEnv>,
  schema: T,
): Promise<{ data: z.output<T> } | { response: Response }> {
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    return {
      response: c.json({ error: 'body: not valid JSON', code: 'VALIDATION_FAILED', field: 'body' }, 400),
    };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { response: c.json(validationError(parsed.error), 400) };
  return { data: parsed.data };
}

app.post('/players', async (c) => {
  const body = await readBody(c, createPlayerBody);
  if ('response' in body) return body.response;
  // `set` is an upsert: refuse an id that exists instead of overwriting that player. A check alone
  // races (two creates of one id both find it free, the second overwrites the first): the id is
  // claimed first, atomic across isolates, as for scores.
  const { id } = body.data;
  if (!(await claimId(c.env, 'players', id))) return c.json(conflictBody('id', id), 409);
  try {
    if (await c.var.strata.exists(playerSchema, id)) return c.json(conflictBody('id', id), 409);
    const player = await c.var.strata.set(playerSchema, body.data);
    return c.json(player, 201);
  } catch (err) {
    // Nothing was created (a taken username, a tier down): give the id back.
    await releaseId(c.env, 'players', id).catch((e) => console.warn('releaseId failed', e));
    throw err;
  }
});

// The read's Cache-Status header (RFC 9211) says which tier answered and whether it was stale.
app.get('/players/:id', async (c) => {
  const id = c.req.param('id');
  const { row, status } = await c.var.strata.findWithStatus(playerSchema, id);
  c.header('Cache-Status', cacheStatusHeader(status));
  if (!row)
    throw new StrataError('NOT_FOUND', `schema players: no row with id ${id}`, {
      details: { schema: 'players', id },
    });
  return c.json(row);
});

app.put('/players/:id', async (c) => {
  const body = await readBody(c, updatePlayerBody);
  if ('response' in body) return body.response;
  const current = await c.var.strata.get(playerSchema, c.req.param('id')); // NOT_FOUND -> 404
  const player = await c.var.strata.set(playerSchema, { ...current, ...body.data, updatedAt: new Date() });
  return c.json(player);
});

app.delete('/players/:id', async (c) => {
  const id = c.req.param('id');
  if (!(await c.var.strata.exists(playerSchema, id))) {
    return c.json({ error: `player ${id} not found`, code: 'NOT_FOUND' }, 404);
  }
  await c.var.strata.delete(playerSchema, id);
  // The id is free again: a later create of it is not refused by an old claim.
  await releaseId(c.env, 'players', id);
  return c.body(null, 204);
});

app.get('/leaderboard', async (c) => {
  const query = leaderboardQuery.safeParse(c.req.query());
  if (!query.success) return c.json(validationError(query.error), 400);
  // Cached in L2 under the query's hash; any write to scores (or a flush of queued ones) retires it.
  const top = await c.var.strata.searchCached(
    scoreSchema,
    Q().orderBy('points').desc().limit(query.data.limit).build(),
  );
  return c.json(top);
});

app.post('/scores', async (c) => {
  const body = await readBody(c, createScoreBody);
  if ('response' in body) return body.response;
  const { id = crypto.randomUUID(), playerId, points } = body.data;
  if (!(await c.var.strata.exists(playerSchema, playerId))) {
    return c.json(
      { error: `playerId: player ${playerId} not found`, code: 'NOT_FOUND', field: 'playerId' },
      404,
    );
  }
  // `set` is an upsert, and Postgres sees a write-behind score only at the flush, so no constraint
  // can refuse a taken id now: a client's id is claimed (atomic across isolates), then checked
  // against the scores written before. A generated UUID is new.
  const clientId = body.data.id !== undefined;
  if (clientId && !(await claimId(c.env, 'scores', id))) return c.json(conflictBody('id', id), 409);
  try {
    if (clientId && (await c.var.strata.exists(scoreSchema, id))) return c.json(conflictBody('id', id), 409);
    // Write-behind: resolves once the write is in L2 and on the queue; Postgres gets it at the flush.
    const score = await c.var.strata.set(scoreSchema, { id, playerId, points });
    return c.json({ queued: true, score }, 202);
  } catch (err) {
    // Nothing was created: give the id back so the client can retry it.
    if (clientId) await releaseId(c.env, 'scores', id).catch((e) => console.warn('releaseId failed', e));
    throw err;
  }
});

/**
 * The isolate's counters, per-tier latency, the write-behind queue's backlog (null without a queue),
 * and its 4xx / 5xx responses apart: refused input is the client's, not an error of the service.
 */
app.get('/stats', async (c) => {
  let queueDepth: number | null = null;
  let queueDepthError: string | undefined;
  try {
    queueDepth = await c.var.strata.queueDepth();
  } catch (err) {
    // Counted by Strata (stats().errorsBy.queue); the rest of the stats still answer.
    console.warn('queueDepth failed', err);
    queueDepthError = isStrataError(err) ? err.code : 'UNKNOWN';
  }
  return c.json({
    ...c.var.strata.stats(),
    queueDepth,
    ...(queueDepthError ? { queueDepthError } : {}),
    responses: responseCounts(),
  });
});

/** An HTML page plotting /stats with uPlot: hit ratio per tier, latency, queue depth, change relay lag. Loads nothing from elsewhere. */
app.get('/dashboard', (c) => {
  const nonce = crypto.randomUUID().replaceAll('-', '');
  c.header('Content-Security-Policy', dashboardCsp(nonce));
  c.header('Cache-Control', 'no-store');
  return c.html(dashboardPage(nonce));
});
