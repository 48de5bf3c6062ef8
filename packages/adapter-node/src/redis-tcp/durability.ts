import { isStrataError, StrataError } from '@strata/core';
import type { Redis } from 'ioredis';
import { isCluster, masterFor, type RedisClient } from './cluster-slots.js';
import { redisAddress as where } from './unreachable.js';

/**
 * What the queue knows of its Redis's persistence: 'aof' (append-only file on: acknowledged writes
 * survive a Redis restart), 'volatile' (no AOF: a restart loses the stream), 'unchecked' (not asked
 * yet, or the server would not say).
 */
export type QueueDurability = 'aof' | 'volatile' | 'unchecked';

/**
 * What the queue knows of its Redis's eviction: 'none' (no `maxmemory`, or `noeviction`: Redis
 * refuses a write rather than drop a key), the evicting `maxmemory-policy` it found
 * ('allkeys-lru', 'volatile-ttl', …), or 'unchecked' (not asked yet, or INFO refused).
 */
export type QueueEviction = 'none' | 'unchecked' | (string & {});

/** What durable write-behind needs, said the same way in every refusal and in the README. */
const NEEDED =
  'appendonly yes (appendfsync always loses nothing even on power loss, everysec at most the last second)';

/**
 * Server replies that mean "ask again soon" (loading its data, busy script, failover): retried on
 * the next call. Any other error reply (unknown or renamed command, NOPERM) is the server refusing
 * INFO, an answer that does not change: the queue refuses as it would without AOF.
 */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * Asks Redis once (one `INFO`: its persistence and memory sections) whether acknowledged writes
 * survive its restart, and whether it evicts keys. The answer
 * is kept, a refusal included; a call that failed (connection down, timeout, LOADING) is not, so
 * the next one asks again. On a Cluster it asks the master that serves the stream's slot (INFO has
 * no key: the Cluster client would send it to any node).
 */
export class DurabilityCheck {
  #durability: QueueDurability = 'unchecked';
  #eviction: QueueEviction = 'unchecked';
  #answer: Promise<QueueDurability> | undefined;
  #passed = false;
  readonly #redis: RedisClient;
  readonly #stream: string;
  readonly #allowVolatile: boolean;
  readonly #allowEvicting: boolean;

  constructor(redis: RedisClient, stream: string, allowVolatile: boolean, allowEvicting = false) {
    this.#redis = redis;
    this.#stream = stream;
    this.#allowVolatile = allowVolatile;
    this.#allowEvicting = allowEvicting;
  }

  get durability(): QueueDurability {
    return this.#durability;
  }

  get eviction(): QueueEviction {
    return this.#eviction;
  }

  /** Whether `check()` has resolved (the queue takes writes): no request, no promise to wait for. */
  get passed(): boolean {
    return this.#passed;
  }

  /** Resolves with the durability, or rejects INVALID_CONFIG when it is not enough and not allowed. */
  check(): Promise<QueueDurability> {
    this.#answer ??= this.#ask().then(
      (durability) => {
        this.#passed = true;
        return durability;
      },
      (err: unknown) => {
        if (!isStrataError(err, 'INVALID_CONFIG')) this.#answer = undefined;
        throw err;
      },
    );
    return this.#answer;
  }

  async #ask(): Promise<QueueDurability> {
    const redis = this.#redis;
    const node = isCluster(redis) ? await masterFor(redis, this.#stream) : redis;
    let info: string;
    try {
      // The default sections hold both persistence and memory: one request for the two checks.
      info = await node.info();
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return this.#settle(
        node,
        'unchecked',
        `refused INFO (${err.message}), so its durability could not be checked`,
      );
    }
    const durability = this.#persistence(node, info);
    this.#evicting(node, info);
    return durability;
  }

  /**
   * An evicting Redis drops keys while it keeps the others, which no reset detection sees (the boot
   * marker and tick stay): under `allkeys-*` the stream itself (every acknowledged write it holds,
   * never flushed), under `volatile-*` too the pending rows, tombstones and pending index beside it,
   * which all carry a TTL (reads then answer Postgres' older row until the flush:
   * reliability/test/probe-evict.test.ts). Only a Redis that never evicts keeps them.
   */
  #evicting(node: Redis, info: string): void {
    const maxmemory = /^maxmemory:(\d+)/m.exec(info)?.[1];
    const policy = /^maxmemory_policy:([\w-]+)/m.exec(info)?.[1];
    if (maxmemory === undefined || policy === undefined) return;
    this.#eviction = maxmemory === '0' || policy === 'noeviction' ? 'none' : policy;
    if (this.#eviction === 'none' || this.#allowEvicting) return;
    const redis = where(node);
    throw new StrataError(
      'INVALID_CONFIG',
      `Redis Stream queue: the Redis at ${redis} evicts keys (maxmemory ${maxmemory}, maxmemory-policy ` +
        `${policy}): ${policy.startsWith('allkeys') ? 'the write stream itself, losing every acknowledged write it holds, and ' : ''}` +
        'the pending rows, tombstones and pending index of writes not flushed yet, so reads answer older ' +
        'rows than acknowledged writes. Write-behind needs maxmemory-policy noeviction (or no maxmemory). ' +
        'To accept that instead, pass allowEvicting: true (allowEvictingRedis: true to createStrata).',
      { details: { field: 'allowEvicting', redis, policy, maxmemory: Number(maxmemory) } },
    );
  }

  #persistence(node: Redis, info: string): QueueDurability {
    const aof = /^aof_enabled:(\d+)/m.exec(info)?.[1];
    if (aof === '1') return this.#settle(node, 'aof', '');
    if (aof === undefined) {
      return this.#settle(
        node,
        'unchecked',
        'reports no aof_enabled in INFO persistence, so its durability could not be checked',
      );
    }
    return this.#settle(
      node,
      'volatile',
      'has no append-only file (aof_enabled:0): a restart loses every write the stream holds ' +
        '(RDB snapshots alone lose all since the last save)',
    );
  }

  #settle(node: Redis, durability: QueueDurability, why: string): QueueDurability {
    this.#durability = durability;
    if (durability === 'aof' || this.#allowVolatile) return durability;
    const redis = where(node);
    throw new StrataError(
      'INVALID_CONFIG',
      `Redis Stream queue: the Redis at ${redis} ${why}. Acknowledged write-behind writes survive a ` +
        `Redis restart only with ${NEEDED}. To accept losing them instead, pass allowVolatile: true ` +
        '(allowVolatileQueue: true to createStrata).',
      { details: { field: 'allowVolatile', redis, durability } },
    );
  }
}

function isRefusal(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message);
}
