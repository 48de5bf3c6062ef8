import { Redis, type RedisOptions } from 'ioredis';

/** The first reconnect waits this long (ms), each next one this much longer... */
const STEP_MS = 50;
/**
 * ...up to this (ms). ioredis' own default grows `min(times * 50, 2000)`, so after a Redis outage
 * of a few seconds each connection tries only every 2 s, and two instances find Redis back up to
 * ~2 s apart. Strata needs them close: a reader that found a reset waits at most 1 s
 * (REPLACED_WAIT_MS in @strata/core) for a write-behind writer to find the same reset and put its
 * unflushed rows back. With 200 ms every connection is back within 200 ms of Redis (plus its own
 * connect), leaving the writer most of that second; the cost is one refused connect per 200 ms per
 * connection while Redis is down, which is nothing next to the commands a live instance sends.
 */
const CAP_MS = 200;

/**
 * The reconnect delay Strata gives the ioredis connections it opens itself (from a URL): 50 ms,
 * 100 ms, 150 ms, then every 200 ms for as long as Redis is down, so an instance is back within
 * ~200 ms of Redis. Pass it as `retryStrategy` to a `Redis` you open yourself for the same bound; a
 * `retryStrategy` you set in `redisOptions` is kept as it is.
 *
 * @example
 * const redis = new Redis(url, { retryStrategy: strataRetryStrategy });
 */
export function strataRetryStrategy(times: number): number {
  return Math.min(times * STEP_MS, CAP_MS);
}

/** The options Strata opens a connection with: its reconnect delay, unless `options` sets one. */
export function withStrataRetry(options: RedisOptions): RedisOptions {
  return { retryStrategy: strataRetryStrategy, ...options };
}

/** ioredis' own reconnect delay (`Redis.defaultOptions`, there at run time, private in its types). */
const ioredisDefault = (Redis as unknown as { defaultOptions: RedisOptions }).defaultOptions.retryStrategy;

/**
 * The options of a connection opened as `client.duplicate(options)` (the bus's subscriber over a
 * borrowed client): Strata's reconnect delay where the client has ioredis' default one, which
 * grows to 5 s while Redis is down (the bus then subscribed again up to 5 s after Redis was back, and
 * its instance heard no invalidation meanwhile); a delay the client or `options` sets is kept.
 */
export function duplicateWithStrataRetry(client: Redis, options: RedisOptions): RedisOptions {
  return client.options.retryStrategy === ioredisDefault ? withStrataRetry(options) : options;
}
