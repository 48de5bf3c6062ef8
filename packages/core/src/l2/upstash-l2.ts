import { Redis, type RedisConfigNodejs } from '@upstash/redis';
import { decodeGetWithTtl, GET_WITH_TTL_SCRIPT } from './get-with-ttl-script.js';
import { integerReply, parseCounter, toPx } from './redis-values.js';
import type { L2Entry, L2SetEntry, L2Tier } from './types.js';

/**
 * Options for the client `createUpstashL2` builds: the `@upstash/redis` config without the two
 * settings the tier fixes (raw strings, one request per call).
 */
export type UpstashL2Config = Omit<RedisConfigNodejs, 'automaticDeserialization' | 'enableAutoPipelining'>;

/**
 * The L2 over Upstash Redis REST, for Workers and any fetch runtime. Every method is exactly one
 * HTTP request whatever the number of keys, and none for an empty list:
 * `getMany` = one `EVAL_RO` reading value + PTTL per key, `setMany` = one `/pipeline` of `SET k v [PX ms] [NX]`,
 * `deleteMany` = one `DEL k1 k2 …`, `incr` = `INCR`, `getCounter` = `GET`.
 *
 * Given `{ url, token, … }` it builds the client with `automaticDeserialization: false`,
 * `enableAutoPipelining: false` and, unless you pass `retry`, `retry: false` (the client's default
 * retries back off for seconds; the engine's timeout and breaker handle failures instead).
 * Given a `Redis` you made, it works whatever that client's settings: see {@link GET_WITH_TTL_SCRIPT}
 * for how values stay raw strings even with automatic deserialization on.
 *
 * @example
 * import { createUpstashL2 } from '@strata/core/upstash';
 * const l2 = createUpstashL2({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN });
 * await l2.setMany([{ key: 'users:42', value: '{"id":42}', ttlMs: 60_000 }]);
 * await l2.getMany(['users:42', 'users:43']); // [{ value: '{"id":42}', ttlMs: 60000 }, null]
 */
export function createUpstashL2(source: Redis | UpstashL2Config): L2Tier {
  const redis = isClient(source)
    ? source
    : new Redis({ retry: false, ...source, automaticDeserialization: false, enableAutoPipelining: false });
  return new UpstashL2(redis);
}

function isClient(source: Redis | UpstashL2Config): source is Redis {
  // Duck-typed: `instanceof` fails across copies of @upstash/redis and its per-platform entries.
  return typeof (source as { pipeline?: unknown }).pipeline === 'function';
}

class UpstashL2 implements L2Tier {
  readonly name = 'upstash';
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async getMany(keys: readonly string[]): Promise<(L2Entry | null)[]> {
    if (keys.length === 0) return [];
    // EVAL_RO rather than EVAL: a read-only script may be served by a read replica.
    const reply: unknown = await this.#redis.evalRo(GET_WITH_TTL_SCRIPT, [...keys], []);
    return decodeGetWithTtl(reply, keys.length);
  }

  async setMany(entries: readonly L2SetEntry[], bump: readonly string[] = []): Promise<number[]> {
    if (entries.length === 0 && bump.length === 0) return [];
    const px = entries.map((entry) => toPx(entry.ttlMs, entry.key));
    const pipeline = this.#redis.pipeline();
    entries.forEach((entry, i) => {
      const ms = px[i];
      if (ms === undefined) pipeline.set(entry.key, entry.value, entry.ifAbsent ? { nx: true } : undefined);
      else pipeline.set(entry.key, entry.value, entry.ifAbsent ? { px: ms, nx: true } : { px: ms });
    });
    for (const key of bump) pipeline.incr(key);
    const replies: unknown[] = await pipeline.exec();
    return replies.slice(entries.length).map((reply) => integerReply(reply, 'setMany'));
  }

  async deleteMany(keys: readonly string[], bump: readonly string[] = []): Promise<number> {
    if (keys.length === 0 && bump.length === 0) return 0;
    if (bump.length === 0) return integerReply(await this.#redis.del(...keys), 'deleteMany');
    const pipeline = this.#redis.pipeline();
    if (keys.length > 0) pipeline.del(...keys);
    for (const key of bump) pipeline.incr(key);
    const replies = await pipeline.exec();
    return keys.length > 0 ? integerReply(replies[0], 'deleteMany') : 0;
  }

  async incr(key: string): Promise<number> {
    return integerReply(await this.#redis.incr(key), 'incr');
  }

  async getCounter(key: string): Promise<number> {
    const reply: unknown = await this.#redis.get(key);
    return parseCounter(reply, key);
  }

  /** Nothing to release: each call is a stateless HTTP request, and a client handed in stays the caller's. */
  async close(): Promise<void> {}
}
