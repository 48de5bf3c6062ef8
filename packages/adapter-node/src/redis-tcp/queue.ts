import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { StrataError } from '@strata/core';
import type { DeadLetter, PullWriteQueue, UnreadableDeadLetter } from '@strata/core/driver';
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { hashSlot, isCluster, type RedisClient, requireHashTag } from './cluster-slots.js';
import { DurabilityCheck, type QueueDurability, type QueueEviction } from './durability.js';
import { withStrataRetry } from './reconnect-delay.js';
import { StreamQueue } from './stream-queue.js';
import { ConnectionErrors } from './unreachable.js';
import { CLUSTER_REPLICA_ACK, type ReplicaAck, replicaAck } from './wait-replicas.js';

/**
 * Like Strata's own keyPrefix: it names Redis keys, so nothing that could break them apart; at most
 * one `{hash tag}` (what pins an app's keys to one slot of a Redis Cluster).
 */
const KEY_PREFIX = /^(?=.{1,64}$)[A-Za-z0-9_.-]*(?:\{[A-Za-z0-9_.-]+\}[A-Za-z0-9_.-]*)?$/;

/** On a single Redis nothing is waited for unless asked: its replicas, if any, are its own business. */
const NO_REPLICA_ACK: ReplicaAck = { replicas: 0, timeoutMs: 250 };

export interface RedisStreamQueueOptions {
  /** Opens and owns a connection to this URL (`close()` quits it). Give this or `redis`. */
  url?: string;
  /** More ioredis options for the connection opened from `url`; `protocol` is always 2. */
  redisOptions?: RedisOptions;
  /**
   * Borrows this connection (RESP2 or RESP3), or a Redis Cluster client; `close()` leaves it open.
   * On a Cluster the stream's name must carry a hash tag (its dead-letter stream must hash to the
   * same slot), else INVALID_CONFIG: the default `<keyPrefix>:writes` does when the keyPrefix has one.
   */
  redis?: Redis | Cluster;
  /**
   * The app's namespace, the same as its Strata `keyPrefix` (Strata refuses a queue of another
   * namespace): two apps on one Redis must not share a stream, or one app's flusher would apply
   * the other's writes. Default 'strata'. `[A-Za-z0-9_.-]{1,64}`.
   */
  keyPrefix?: string;
  /** Default `<keyPrefix>:writes`. In Redis Cluster give it a hash tag, e.g. '{strata}:writes'. */
  stream?: string;
  /** The consumer group every flushing instance of the app joins. Default `<keyPrefix>:flushers`. */
  group?: string;
  /** This consumer's name in the group. Default: host, pid and a random suffix (unique per queue). */
  consumer?: string;
  /**
   * A delivery left unacknowledged this long is presumed to belong to a dead consumer: the next
   * `take` of any consumer reclaims it. Longer than the slowest flush. Default 30,000 ms.
   */
  claimIdleMs?: number;
  /** Where `deadLetter` and malformed entries go. Default `<stream>:dead`. */
  deadLetterStream?: string;
  /**
   * Take writes even though the Redis would lose them on a restart (no AOF, or INFO refused so it
   * could not be checked). Default false: `enqueue` and `checkDurability()` then reject with
   * INVALID_CONFIG. (This repository's tests run on a Redis started with `--appendonly no`, the
   * CI's too, so every test queue there passes `allowVolatile: true`.)
   */
  allowVolatile?: boolean;
  /**
   * Take writes even though the Redis evicts keys (`maxmemory` with a `maxmemory-policy` other than
   * `noeviction`): an evicted stream loses the acknowledged writes it holds, evicted pending rows and
   * tombstones make reads answer older rows until the flush. Default false: `enqueue` and
   * `checkDurability()` then reject with INVALID_CONFIG (asked once, in the same `INFO` as the durability).
   */
  allowEvicting?: boolean;
  /**
   * `enqueue` resolves only once this many replicas have the entries (`WAIT`, right after the XADDs
   * on the same connection): a failover onto a replica then loses no acknowledged write. Default 1
   * on a Redis Cluster, 0 on a single Redis. Fewer within `replicaTimeoutMs`: QUEUE_UNAVAILABLE.
   */
  replicas?: number;
  /** How long `enqueue` waits for the replicas (ms). Default 250. */
  replicaTimeoutMs?: number;
}

/** Counters since the queue was created. */
export interface RedisStreamQueueStats {
  /**
   * Entries taken back from the pending list: retried ones, ones a dead consumer held, and this
   * consumer's own that a lost `take` reply left pending.
   */
  reclaimed: number;
  /** Entries that were no valid write: dead-lettered as they were found, never handed out. */
  malformed: number;
  /** Pending entries deleted from the stream by someone else (XDEL, XTRIM) before they were acked. */
  vanished: number;
  /** Whether `close()` removed this consumer from the group (it does when it holds no entry). */
  consumerRemoved?: boolean;
  /** What `INFO` said of persistence: 'unchecked' until the first `enqueue` or `checkDurability()`. */
  durability: QueueDurability;
  /** What `INFO` said of eviction (memory): 'none' (never evicts), the evicting policy, or 'unchecked'. */
  eviction: QueueEviction;
}

export interface RedisStreamQueue extends PullWriteQueue {
  /** The app namespace (`keyPrefix`) the stream and group are named after. */
  readonly namespace: string;
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly deadLetterStream: string;
  /** The oldest `count` dead letters (default 100), from the dead-letter stream. */
  deadLetters(count?: number): Promise<(DeadLetter | UnreadableDeadLetter)[]>;
  /**
   * Asks Redis once whether acknowledged writes survive its restart (`INFO`:
   * `aof_enabled:1`) and whether it evicts keys (`maxmemory_policy`), in one request; the first `enqueue` does the same.
   * Rejects INVALID_CONFIG when writes would not survive and `allowVolatile` is not set, or when it
   * evicts and `allowEvicting` is not set; a failed INFO call is asked again next time.
   * @example await queue.checkDurability(); // 'aof' — or call it at start-up to fail at boot
   */
  checkDurability(): Promise<QueueDurability>;
  stats(): RedisStreamQueueStats;
}

/**
 * A write queue on a Redis Stream with a consumer group, so a crash of a Node process loses nothing
 * and several Node instances share the flushing. It is as durable as the Redis: the first `enqueue`
 * checks that Redis has an append-only file (see `checkDurability`) and refuses otherwise, unless
 * `allowVolatile: true`.
 *
 * - `enqueue`: one MULTI of `XADD <stream> * w <json>` per write; it resolves once Redis has all of
 *   them (that is the acknowledgement) and adds none when it fails. Writes are validated first.
 * - `take(max)`: first reads this consumer's own pending entries again (XREADGROUP `0`: a take whose
 *   reply was lost left them there), then reclaims (XAUTOCLAIM) entries pending longer than
 *   `claimIdleMs` in any consumer, which is how a crashed process's writes get flushed, by a peer or
 *   after its restart, then reads new ones (XREADGROUP `>`). `attempts` = Redis's delivery count - 1. A malformed entry
 *   goes straight to the dead-letter stream and is counted (`stats().malformed`); it never fails the batch.
 * - `ack`: XACK + XDEL in one MULTI. Deleting keeps the stream as long as the backlog, and trimming
 *   instead (XTRIM MINID) would drop an entry still awaiting its retry behind an acked newer one.
 * - `retry`: `XCLAIM … IDLE <claimIdleMs> JUSTID` marks the entries idle without counting a delivery,
 *   so the next `take` of this (or any) consumer reclaims them at once and the count grows by one.
 * - `deadLetter`: `XADD <dead> * w <json> reason <r> attempts <n> handle <id>` (n: the tries made,
 *   the last one counted, as every queue's dead letters), then XACK + XDEL,
 *   atomically (a Lua script), for entries still in the stream.
 * - `colocated`: when a Strata's L2 is this same Redis (checked once with a marker key), the engine
 *   XADDs the writes inside the L2 script that orders them: a write-behind `set` is one round trip,
 *   and its pending rows and queue entries land together or not at all.
 * - `pending()`: XLEN of the stream. As acks delete, that is exactly the writes enqueued and not yet
 *   acked or dead-lettered, across every instance: in flight, awaiting retry, or never delivered.
 *
 * The group is created on the first `take`, at id `0` (`XGROUP CREATE … 0 MKSTREAM`, BUSYGROUP
 * ignored): writes enqueued before any flusher ever ran are flushed too, where `$` would skip them.
 * It is created again if the stream is deleted under it.
 *
 * @example
 * const queue = createRedisStreamQueue({ url: 'redis://127.0.0.1:6379', keyPrefix: 'shop' });
 * // stream 'shop:writes', group 'shop:flushers', dead letters 'shop:writes:dead'
 * await queue.enqueue([{ schema: 'scores', id: 'p1', op: 'set', row: '{"id":"p1"}', version: 3 }]);
 * const batch = await queue.take(100);
 * await queue.ack(batch.map((d) => d.handle));
 * await queue.close();
 */
export function createRedisStreamQueue(options: RedisStreamQueueOptions): RedisStreamQueue {
  const plan = planStreamQueue(options, options.redis !== undefined && isCluster(options.redis));
  if ((options.url === undefined) === (options.redis === undefined))
    invalid('url', 'give either url or redis');
  if (options.redis !== undefined) return openStreamQueue(options.redis, 'borrowed', plan);
  const redis = new Redis(
    options.url!,
    withStrataRetry({ maxRetriesPerRequest: 0, ...options.redisOptions, protocol: 2 }),
  );
  // Failures reach callers as rejected commands, told with the connection's own error.
  return openStreamQueue(redis, 'owned', plan, new ConnectionErrors(redis));
}

/** The queue's names and settings, validated before any connection is opened. */
export interface StreamQueuePlan {
  names: ConstructorParameters<typeof StreamQueue>[2];
  allowVolatile: boolean;
  allowEvicting: boolean;
  ack: ReplicaAck;
}

/** The app's write stream when none is named: `<keyPrefix>:writes` (its group `<keyPrefix>:flushers`). */
export const defaultWriteStream = (keyPrefix: string): string => `${keyPrefix}:writes`;

/**
 * Validates the options (INVALID_CONFIG names the field) and fills in the defaults.
 * @internal createStrata plans the queue before it opens the Cluster client it then hands it.
 */
export function planStreamQueue(
  options: Omit<RedisStreamQueueOptions, 'url' | 'redis' | 'redisOptions'>,
  clustered: boolean,
): StreamQueuePlan {
  const keyPrefix = options.keyPrefix ?? 'strata';
  if (typeof keyPrefix !== 'string' || !KEY_PREFIX.test(keyPrefix))
    invalid('keyPrefix', 'must match [A-Za-z0-9_.-]{1,64}, with at most one {hash tag}');
  const {
    stream = defaultWriteStream(keyPrefix),
    group = `${keyPrefix}:flushers`,
    consumer = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    claimIdleMs = 30_000,
  } = options;
  const deadLetterStream = options.deadLetterStream ?? `${stream}:dead`;
  for (const [field, value] of Object.entries({ stream, group, consumer, deadLetterStream })) {
    if (typeof value !== 'string' || value === '') invalid(field, 'must be a non-empty string');
  }
  if (deadLetterStream === stream) invalid('deadLetterStream', 'must differ from stream');
  if (!Number.isSafeInteger(claimIdleMs) || claimIdleMs < 1)
    invalid('claimIdleMs', 'must be a whole number >= 1');
  if (clustered) checkClusterNames(stream, deadLetterStream);
  return {
    names: { namespace: keyPrefix, stream, group, consumer, claimIdleMs, deadLetterStream },
    allowVolatile: options.allowVolatile === true,
    allowEvicting: options.allowEvicting === true,
    ack: replicaAck(
      'Redis Stream queue',
      options.replicas,
      options.replicaTimeoutMs,
      clustered ? CLUSTER_REPLICA_ACK : NO_REPLICA_ACK,
    ),
  };
}

/**
 * The queue over a client, from a plan (`owned`: close() quits the client). `errors`: the client's
 * (one Strata opened), to tell a failure while it is down.
 * @internal
 */
export function openStreamQueue(
  redis: RedisClient,
  connection: 'owned' | 'borrowed',
  { names, allowVolatile, allowEvicting, ack }: StreamQueuePlan,
  errors?: ConnectionErrors,
): StreamQueue {
  return new StreamQueue(
    redis,
    connection,
    names,
    new DurabilityCheck(redis, names.stream, allowVolatile, allowEvicting),
    ack,
    errors,
  );
}

/** On a Cluster the stream, its dead letters and the colocation marker must share one slot. */
function checkClusterNames(stream: string, deadLetterStream: string): void {
  requireHashTag('Redis Stream queue on a Redis Cluster: stream', 'stream', stream);
  if (hashSlot(deadLetterStream) !== hashSlot(stream))
    invalid('deadLetterStream', `must carry the stream's hash tag on a Redis Cluster (${stream})`);
}

function invalid(field: string, why: string): never {
  throw new StrataError('INVALID_CONFIG', `Redis Stream queue: ${field} ${why}`, { details: { field } });
}
