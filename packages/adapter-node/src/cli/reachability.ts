import { redactUrl, withTimeout } from '@strata/core/driver';
import type { Database } from '@strata/core/drizzle';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import type { CreateStrataOptions } from '../create-strata.js';
import { CliFailure } from './cli-errors.js';

const TIMEOUT_MS = 5_000;

/** Errors that mean nothing answered, as opposed to a server that answered no. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'TIMEOUT',
]);

/** The innermost cause's message (or code: Node's AggregateError of a dual-stack connect has none). */
function reason(error: unknown): { text: string; network: boolean } {
  let network = false;
  let text = String(error);
  for (let e = error, depth = 0; e instanceof Object && depth < 6; e = (e as Error).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && NETWORK_CODES.has(code)) network = true;
    const here =
      typeof message === 'string' && message !== '' ? message : typeof code === 'string' ? code : '';
    if (here !== '') text = here.replace(/^strata: /, '');
  }
  return { text, network };
}

function failure(what: string, url: string, error: unknown): CliFailure {
  const { text, network } = reason(error);
  const verb = network ? 'could not be reached' : 'refused the request';
  return new CliFailure(`${what} at ${redactUrl(url)} ${verb}: ${text}`, { cause: error });
}

/**
 * Fails with the (redacted) URL when the configured Redis does not answer a PING, and when none is
 * configured: `warm` and `invalidate` would otherwise report success for caches they never touched.
 */
export async function assertRedisReachable(
  command: string,
  target: Pick<CreateStrataOptions, 'redisUrl' | 'upstash'>,
): Promise<void> {
  const { redisUrl, upstash } = target;
  if (redisUrl !== undefined) {
    try {
      await pingTcp(redisUrl);
    } catch (error) {
      throw failure('Redis', redisUrl, error);
    }
  } else if (upstash !== undefined) {
    try {
      const { Redis: Upstash } = await import('@upstash/redis');
      // One fetch: `retry: false` is one retry in @upstash/redis, and its backoff is not this check's.
      const client = new Upstash({ ...upstash, retry: { retries: 0 } });
      await withTimeout(client.ping(), TIMEOUT_MS, 'Upstash PING');
    } catch (error) {
      throw failure('Redis (Upstash REST)', upstash.url, error);
    }
  } else {
    throw new CliFailure(
      `${command} needs Redis: set REDIS_URL, or UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (or redisUrl / upstash in the config)`,
    );
  }
}

async function pingTcp(url: string): Promise<void> {
  // No retries and no offline queue: one attempt, and its own error (ECONNREFUSED, ENOTFOUND, …)
  // rather than ioredis' "Connection is closed." that follows it.
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    connectTimeout: TIMEOUT_MS,
    protocol: 2,
  });
  let connectionError: Error | undefined;
  redis.on('error', (error: Error) => {
    connectionError ??= error;
  });
  try {
    await redis.connect();
    await withTimeout(redis.ping(), TIMEOUT_MS, 'Redis PING');
  } catch (error) {
    throw connectionError ?? error;
  } finally {
    redis.disconnect();
  }
}

/** Fails with the (redacted) URL when Postgres does not answer `select 1`. */
export async function assertPostgresReachable(db: Database, url: string): Promise<void> {
  try {
    await withTimeout(db.execute(sql`select 1`), TIMEOUT_MS, 'Postgres select 1');
  } catch (error) {
    throw failure('Postgres', url, error);
  }
}
