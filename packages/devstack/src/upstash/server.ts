/**
 * An Upstash-compatible REST endpoint over a real Redis, speaking the protocol `@upstash/redis` uses.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KEEP_ALIVE_TIMEOUT_MS } from '../keep-alive.js';
import type { UpstashEndpoint } from '../types.js';
import { BodyBudget } from './body-budget.js';
import { HttpError, parseCommand, parseCommandList } from './commands.js';
import { RedisConnections } from './connections.js';
import { resultBody } from './encoding.js';
import {
  DEFAULT_MAX_BODY_BYTES,
  isAuthorized,
  parseJson,
  readBody,
  sendError,
  sendJson,
  sendPreflight,
  setCommonHeaders,
} from './http-io.js';
import { CommandRunner } from './redis-commands.js';
import { ReplicaReads, requestToken } from './replica-reads.js';
import { pathCommand, sendOutcomes } from './request-parts.js';
import { serveRouted } from './routed.js';
import { StopTracker } from './stop.js';
import { serveSubscription } from './subscribe.js';

export interface UpstashServerOptions {
  redisUrl: string;
  token: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default: a free port chosen by the OS. */
  port?: number;
  /** Larger request bodies get 413. Default 10 MiB, as Upstash. */
  maxBodyBytes?: number;
  /** Request-body bytes all requests may hold at once; past it a request gets 503. Default 64 MiB. */
  maxInflightBodyBytes?: number;
  /** Blocking commands (BLPOP, XREAD BLOCK…) waiting at once; one more gets 429. Default 16. */
  maxBlockingCommands?: number;
  /** Longest a blocking command waits: a longer timeout, or 0, is lowered to this. Default 30 s. */
  maxBlockSeconds?: number;
  /**
   * A replica of `redisUrl` (`redis-server --replicaof`): read-only requests go to it, as on an
   * Upstash global database, and `upstash-sync-token` is the primary's replication offset so that
   * a client (`@upstash/redis`, `readYourWrites` on by default) reads its own writes. See ReplicaReads.
   */
  replicaUrl?: string;
  /** How long a read waits for the replica to apply the client's token before the primary answers. Default 50 ms. */
  replicaWaitMs?: number;
}

interface Context {
  runner: CommandRunner;
  /** With `replicaUrl`: where each request goes, and the token it answers with. */
  replicas: ReplicaReads | undefined;
  connections: RedisConnections;
  tracker: StopTracker;
  maxBodyBytes: number;
  budget: BodyBudget;
}

/** Reads a positive number option, refusing nonsense with a clear error rather than a silent default. */
function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${name} must be a positive number, not ${value}`);
  return value;
}

/**
 * Starts an HTTP server that speaks Upstash's REST protocol (`/`, `/pipeline`, `/multi-exec`,
 * `/subscribe/<channel>`, `/psubscribe/<pattern>`, and path commands like `/get/<key>`) over a real Redis.
 * Rejects when Redis cannot be reached.
 *
 * @example
 * const endpoint = await startUpstashServer({ redisUrl: 'redis://127.0.0.1:6379', token: 'dev' });
 * const redis = new Redis({ url: endpoint.url, token: endpoint.token }); // from '@upstash/redis'
 * await redis.set('greeting', 'hi');
 * await endpoint.stop();
 */
export async function startUpstashServer(options: UpstashServerOptions): Promise<UpstashEndpoint> {
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = positive('maxBodyBytes', options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES);
  const budget = new BodyBudget(
    positive('maxInflightBodyBytes', options.maxInflightBodyBytes, 64 * 1024 * 1024),
  );
  const limits = {
    maxConcurrent: Math.floor(positive('maxBlockingCommands', options.maxBlockingCommands, 16)),
    maxSeconds: positive('maxBlockSeconds', options.maxBlockSeconds, 30),
  };
  const connections = new RedisConnections(options.redisUrl);
  const shared = connections.open('shared');
  const replicaConnections =
    options.replicaUrl === undefined ? undefined : new RedisConnections(options.replicaUrl);
  const closeConnections = () => Promise.all([connections.closeAll(), replicaConnections?.closeAll()]);
  const replicaShared = replicaConnections?.open('shared');
  for (const [redis, url] of [
    [shared, options.redisUrl],
    [replicaShared, options.replicaUrl],
  ] as const) {
    try {
      await redis?.connect();
    } catch (error) {
      await closeConnections();
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`Upstash REST server: cannot reach Redis at ${url}: ${reason}`);
    }
  }
  const runner = new CommandRunner(connections, shared, limits);
  const replicas =
    replicaConnections && replicaShared
      ? new ReplicaReads(
          { runner, redis: shared },
          { runner: new CommandRunner(replicaConnections, replicaShared, limits), redis: replicaShared },
          positive('replicaWaitMs', options.replicaWaitMs, 50),
        )
      : undefined;

  const server = createServer({ keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS });
  const tracker = new StopTracker(server);
  const context: Context = {
    runner,
    replicas,
    connections,
    tracker,
    maxBodyBytes,
    budget,
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    tracker.track(res);
    handle(req, res, options.token, context).catch((error: unknown) => {
      // Last resort: a bug here must answer the request, never take the process down.
      sendError(res, 500, `ERR internal error: ${error instanceof Error ? error.message : String(error)}`);
    });
  });
  // Malformed HTTP gets a 400 from Node; a reset socket is just dropped.
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await closeConnections();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    token: options.token,
    stop() {
      stopping ??= tracker.stop().then(async () => {
        await closeConnections();
      });
      return stopping;
    },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, token: string, ctx: Context): Promise<void> {
  setCommonHeaders(req, res);
  // With a replica the token is an offset: an answer that moves nothing (a refusal, a subscription)
  // hands back the client's own, never the plain sequence, which would move it back.
  if (ctx.replicas)
    res.setHeader('upstash-sync-token', String(requestToken(req.headers['upstash-sync-token'])));
  if (req.method === 'OPTIONS') return sendPreflight(req, res);
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (!isAuthorized(req, url, token)) return sendError(res, 401, 'Unauthorized');
  if (ctx.tracker.stopping) return sendError(res, 503, 'ERR server is shutting down');
  if (req.method !== 'POST' && req.method !== 'GET') return sendError(res, 405, 'ERR use POST or GET');

  const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
  try {
    const segments = pathSegments(url.pathname);
    const [first] = segments;
    if (first === 'subscribe' || first === 'psubscribe') {
      if (segments.length < 2)
        throw new HttpError(400, `ERR missing ${first === 'subscribe' ? 'channel' : 'pattern'}`);
      const target = segments.slice(1).join('/');
      const register = (end: () => void) => ctx.tracker.onStop(end);
      return await serveSubscription(req, res, {
        connections: ctx.connections,
        target,
        pattern: first === 'psubscribe',
        register,
      });
    }

    const signal = ctx.tracker.signalFor(res);
    const body = await readBody(req, ctx.maxBodyBytes, ctx.budget.lease(res));
    if (ctx.replicas)
      return await serveRouted(req, res, ctx.replicas, ctx.runner, { segments, url, body, base64, signal });
    if (segments.length === 1 && (first === 'pipeline' || first === 'multi-exec')) {
      if (req.method !== 'POST') throw new HttpError(405, `ERR use POST for /${first}`);
      const commands = parseCommandList(parseJson(body));
      if (first === 'pipeline') return sendOutcomes(res, await ctx.runner.pipeline(commands, signal), base64);
      const outcomes = await ctx.runner.multiExec(commands);
      if (!Array.isArray(outcomes)) return sendError(res, outcomes.status, outcomes.error);
      return sendOutcomes(res, outcomes, base64);
    }

    const command = segments.length === 0 ? parseCommand(parseJson(body)) : pathCommand(segments, url, body);
    const outcome = await ctx.runner.run(command, signal);
    if (outcome.ok) return sendJson(res, 200, resultBody(outcome.reply, base64));
    return sendError(res, outcome.status, outcome.error);
  } catch (error) {
    if (error instanceof HttpError) {
      // Close rather than keep reading an oversized (or refused) body just to reuse the connection.
      if (error.status === 413 || error.status === 503) res.setHeader('Connection', 'close');
      return sendError(res, error.status, error.message);
    }
    throw error;
  }
}

function pathSegments(pathname: string): string[] {
  const raw = pathname.split('/').slice(1);
  if (raw.at(-1) === '') raw.pop();
  try {
    return raw.map((segment) => decodeURIComponent(segment));
  } catch {
    throw new HttpError(400, 'ERR malformed percent-encoding in the URL path');
  }
}
