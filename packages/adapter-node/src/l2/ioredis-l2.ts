import { createHash } from 'node:crypto';
import {
  decodeGetWithTtl,
  GET_WITH_TTL_SCRIPT,
  integerReply,
  type L2Entry,
  type L2SetEntry,
  type L2Tier,
  parseCounter,
  StrataError,
  toPx,
} from '@strata/core';
import { Redis, type RedisOptions } from 'ioredis';
import { quitConnection } from '../redis/quit-connection.js';

const GET_WITH_TTL_SHA = createHash('sha1').update(GET_WITH_TTL_SCRIPT).digest('hex');

/**
 * The L2 over Redis TCP with ioredis, for long-lived Node processes. Each method is one round trip
 * whatever the number of keys: `getMany` = one EVALSHA of a script reading GET + PTTL per key (atomic, so a value
 * never pairs with the TTL of a later write), `setMany` = one pipeline of `SET k v [PX ms] [NX]`,
 * `deleteMany` = one `DEL k1 k2 …`.
 *
 * Given a URL it opens and owns its connection (`close()` quits it), with `protocol: 2` forced
 * (ioredis 6 defaults to RESP3) and `maxRetriesPerRequest: 0` unless you say otherwise: while Redis
 * is unreachable, queued commands fail at the first failed reconnect instead of waiting through
 * twenty, so the engine falls back to Postgres quickly and a timed-out write is not replayed
 * minutes later over newer data. Given a `Redis` you made, it borrows it and never closes it; only
 * commands whose replies are the same in RESP2 and RESP3 are used, so either protocol works.
 *
 * @example
 * const l2 = createIoredisL2('redis://127.0.0.1:6379');
 * await l2.setMany([{ key: 'users:42', value: '{"id":42}', ttlMs: 60_000 }]);
 * await l2.getMany(['users:42']); // [{ value: '{"id":42}', ttlMs: 60000 }]
 * await l2.close();
 */
export function createIoredisL2(redis: Redis): L2Tier;
export function createIoredisL2(url: string, options?: RedisOptions): L2Tier;
export function createIoredisL2(source: Redis | string, options: RedisOptions = {}): L2Tier {
  if (typeof source !== 'string') return new IoredisL2(source, false);
  const redis = new Redis(source, { maxRetriesPerRequest: 0, ...options, protocol: 2 });
  // Failures reach callers as rejected commands; without a listener ioredis would also print
  // every failed reconnect as an "Unhandled error event".
  redis.on('error', () => {});
  return new IoredisL2(redis, true);
}

class IoredisL2 implements L2Tier {
  readonly name = 'ioredis';
  readonly #redis: Redis;
  readonly #owned: boolean;
  #closing: Promise<void> | undefined;

  constructor(redis: Redis, owned: boolean) {
    this.#redis = redis;
    this.#owned = owned;
  }

  async getMany(keys: readonly string[]): Promise<(L2Entry | null)[]> {
    if (keys.length === 0) return [];
    // One command, atomic (value and PTTL of the same instant), as the Upstash tier does: EVALSHA,
    // and the script's text only the first time a server has not seen it.
    let reply: unknown;
    try {
      reply = await this.#redis.evalsha(GET_WITH_TTL_SHA, keys.length, ...keys);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
      reply = await this.#redis.eval(GET_WITH_TTL_SCRIPT, keys.length, ...keys);
    }
    return decodeGetWithTtl(reply, keys.length);
  }

  async setMany(entries: readonly L2SetEntry[], bump: readonly string[] = []): Promise<number[]> {
    if (entries.length === 0 && bump.length === 0) return [];
    // Every TTL is checked before anything is sent: a bad entry writes nothing.
    const px = entries.map((entry) => toPx(entry.ttlMs, entry.key));
    const pipeline = this.#redis.pipeline();
    entries.forEach((entry, i) => {
      const ms = px[i];
      if (ms === undefined) {
        if (entry.ifAbsent) pipeline.set(entry.key, entry.value, 'NX');
        else pipeline.set(entry.key, entry.value);
      } else if (entry.ifAbsent) pipeline.set(entry.key, entry.value, 'PX', ms, 'NX');
      else pipeline.set(entry.key, entry.value, 'PX', ms);
    });
    for (const key of bump) pipeline.incr(key);
    const replies = results(await pipeline.exec(), 'setMany');
    return replies.slice(entries.length).map((reply) => integerReply(reply, 'ioredis setMany'));
  }

  async deleteMany(keys: readonly string[], bump: readonly string[] = []): Promise<number> {
    if (keys.length === 0 && bump.length === 0) return 0;
    if (bump.length === 0) return integerReply(await this.#redis.del(...keys), 'ioredis deleteMany');
    const pipeline = this.#redis.pipeline();
    if (keys.length > 0) pipeline.del(...keys);
    for (const key of bump) pipeline.incr(key);
    const replies = results(await pipeline.exec(), 'deleteMany');
    return keys.length > 0 ? integerReply(replies[0], 'ioredis deleteMany') : 0;
  }

  async incr(key: string): Promise<number> {
    return integerReply(await this.#redis.incr(key), 'ioredis incr');
  }

  async getCounter(key: string): Promise<number> {
    return parseCounter(await this.#redis.get(key), key);
  }

  /** Quits an owned connection (once, however often it is called); a borrowed one stays open. */
  close(): Promise<void> {
    this.#closing ??= this.#owned ? quitConnection(this.#redis) : Promise.resolve();
    return this.#closing;
  }
}

/** The replies of a pipeline or MULTI/EXEC, throwing the first command error. */
function results(replies: [Error | null, unknown][] | null, op: string): unknown[] {
  if (replies === null) throw unexpected(op, 'a transaction result');
  return replies.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

function unexpected(op: string, what: string): StrataError {
  return new StrataError('L2_UNAVAILABLE', `L2 ioredis ${op}: expected ${what} in the reply`, {
    details: { op },
  });
}
