import { randomBytes } from 'node:crypto';
import { serviceUrls } from './defaults.js';
import { startEmbeddedPostgres } from './embedded/pglite.js';
import { RedisBinaryMissingError, spawnRedisServer } from './embedded/redis-server.js';
import { startNeonServer } from './neon/server.js';
import { canConnect } from './net.js';
import type { Devstack, DevstackInfo, Stoppable } from './types.js';
import { startUpstashServer } from './upstash/server.js';

/**
 * `auto`: use the configured services, fall back to embedded ones (PGlite; a spawned redis-server)
 * when they do not answer. `never`: fail when a service does not answer (CI). `always`: embedded only.
 */
export type EmbeddedMode = 'auto' | 'never' | 'always';

export interface DevstackOptions {
  /** Default: STRATA_REDIS_URL, else redis://127.0.0.1:6379. */
  redisUrl?: string;
  /** Default: STRATA_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test. */
  databaseUrl?: string;
  embedded?: EmbeddedMode;
  /** Bearer token of the Upstash endpoint. Default: random per start. */
  upstashToken?: string;
  host?: string;
  upstashPort?: number;
  neonPort?: number;
  /** Where the PGlite fallback keeps its files; in memory when omitted. */
  pgliteDataDir?: string;
  log?: (message: string) => void;
}

export class DevstackError extends Error {
  override name = 'DevstackError';
}

/**
 * Serves the cloud protocols locally: Upstash REST over Redis, Neon HTTP SQL and WebSocket over
 * Postgres. Everything started here is stopped by `stop()`, in reverse order.
 * @example
 * const stack = await startDevstack({ embedded: 'auto' });
 * const redis = new Redis(stack.upstash!); // @upstash/redis
 * Object.assign(neonConfig, neonLocalConfig(stack.neon));
 * await stack.stop();
 */
export async function startDevstack(options: DevstackOptions = {}): Promise<Devstack> {
  const defaults = serviceUrls();
  const mode = options.embedded ?? 'auto';
  const log = options.log ?? (() => {});
  const host = options.host ?? '127.0.0.1';
  const started: Stoppable[] = [];
  const stopAll = async () => {
    for (const part of started.reverse()) await part.stop();
  };

  try {
    let databaseUrl = options.databaseUrl ?? defaults.databaseUrl;
    let postgres: DevstackInfo['postgres'] = { source: 'external', url: databaseUrl };
    if (mode === 'always' || !(await answers(databaseUrl, 5432))) {
      if (mode === 'never')
        throw new DevstackError(`Postgres does not answer at ${serviceAddress(databaseUrl)}`);
      log(
        mode === 'always'
          ? 'using embedded PGlite'
          : `Postgres not reachable at ${serviceAddress(databaseUrl)}: using PGlite`,
      );
      const pg = await startEmbeddedPostgres({
        host,
        ...(options.pgliteDataDir && { dataDir: options.pgliteDataDir }),
      });
      started.push(pg);
      databaseUrl = pg.url;
      postgres = { source: 'pglite', url: pg.url };
    }

    let redisUrl: string | undefined = options.redisUrl ?? defaults.redisUrl;
    let redis: DevstackInfo['redis'] = { source: 'external', url: redisUrl };
    if (mode === 'always' || !(await answers(redisUrl, 6379))) {
      if (mode === 'never') throw new DevstackError(`Redis does not answer at ${serviceAddress(redisUrl)}`);
      try {
        const spawned = await spawnRedisServer();
        started.push(spawned);
        redisUrl = spawned.url;
        redis = { source: 'spawned', url: spawned.url };
        log(`started redis-server (pid ${spawned.pid}) at ${spawned.url}`);
      } catch (err) {
        if (!(err instanceof RedisBinaryMissingError)) throw err;
        redisUrl = undefined;
        redis = {
          source: 'unavailable',
          reason: 'no Redis answers and redis-server is not installed: L2 is unavailable',
        };
        log(redis.reason!);
      }
    }

    const token = options.upstashToken ?? randomBytes(18).toString('base64url');
    let upstash: DevstackInfo['upstash'];
    if (redisUrl) {
      const endpoint = await startUpstashServer({
        redisUrl,
        token,
        host,
        ...(options.upstashPort !== undefined && { port: options.upstashPort }),
      });
      started.push(endpoint);
      upstash = { url: endpoint.url, token: endpoint.token };
    }

    const neon = await startNeonServer({
      databaseUrl,
      host,
      ...(options.neonPort !== undefined && { port: options.neonPort }),
      // PGlite runs one statement at a time; more pooled connections would only queue.
      ...(postgres.source === 'pglite' && { maxConnections: 1 }),
    });
    started.push(neon);

    const info: DevstackInfo = {
      redis,
      postgres,
      ...(upstash && { upstash }),
      neon: { httpUrl: neon.httpUrl, wsHost: neon.wsHost, connectionString: neon.connectionString },
    };
    return { ...info, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function answers(url: string, defaultPort: number): Promise<boolean> {
  const parsed = new URL(url);
  return canConnect(parsed.hostname || '127.0.0.1', Number(parsed.port || defaultPort), 1_000);
}

/**
 * Where a service is, for messages: host, port and database, never the user or password of its URL.
 * @example serviceAddress('postgresql://app:s3cret@127.0.0.1:5432/test'); // '127.0.0.1:5432/test'
 */
export function serviceAddress(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.pathname === '/' ? parsed.host : `${parsed.host}${parsed.pathname}`;
  } catch {
    return '<unparseable url>';
  }
}
