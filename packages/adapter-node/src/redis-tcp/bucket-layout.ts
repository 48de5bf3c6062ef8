import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { StrataError } from '@strata/core';
import type { RedisClient } from './cluster-slots.js';
import { planStreamQueue, type RedisStreamQueueOptions, type StreamQueuePlan } from './queue.js';

/** The most buckets `config.buckets` allows: every stream name a bucket count could have used. */
const MAX_BUCKETS = 1024;

/** Bucket b's write stream of an app whose keyPrefix is `root` (its hash tag: `{root#b}`). */
export const bucketStream = (root: string, b: number): string => `{${root}#${b}}:writes`;

/** Where bucket b's stream records the bucket count that wrote it (same slot as the stream). */
const layoutKey = (root: string, b: number): string => `${bucketStream(root, b)}:buckets`;

/**
 * Refuses (INVALID_CONFIG, nothing written) to take write-behind writes into `count` bucket streams
 * while writes another bucket count acknowledged still wait in a stream: under the other count
 * their rows, versions and pending index live under other keys, so this deployment would neither
 * read them before their flush nor (for streams it does not drain) ever flush them. Looked at: the
 * unbucketed streams (`root:writes` on one Redis, `{root}:writes` on a Cluster), every bucket
 * stream this count does not drain (b = count … 1023), and each of its own whose recorded count is
 * another (or none: written before any count was recorded). Then records `count` in each of its
 * streams. One request per key, in parallel (on a Cluster, to each key's master).
 */
export async function claimBucketLayout(redis: RedisClient, root: string, count: number): Promise<void> {
  const foreign = [`${root}:writes`, `{${root}}:writes`];
  for (let b = count; b < MAX_BUCKETS; b++) foreign.push(bucketStream(root, b));
  const own = Array.from({ length: count }, (_, b) => b);
  const [foreignLengths, ownLengths, recorded] = await Promise.all([
    Promise.all(foreign.map((stream) => redis.xlen(stream))),
    Promise.all(own.map((b) => redis.xlen(bucketStream(root, b)))),
    Promise.all(own.map((b) => redis.get(layoutKey(root, b)))),
  ]);
  const waiting: string[] = [];
  foreign.forEach((stream, i) => {
    if (foreignLengths[i]! > 0) waiting.push(`${stream} (${foreignLengths[i]})`);
  });
  own.forEach((b) => {
    if (ownLengths[b]! > 0 && recorded[b] !== String(count)) {
      waiting.push(`${bucketStream(root, b)} (${ownLengths[b]}, of ${recorded[b] ?? 'no'} bucket count)`);
    }
  });
  if (waiting.length > 0) {
    throw new StrataError(
      'INVALID_CONFIG',
      `Redis Stream queue: write-behind writes of another bucket count still wait in ${waiting.join(', ')}: ` +
        `run flushDirty() on the deployment that wrote them (its own buckets setting) until they are empty, ` +
        `then start this one with buckets: ${count}`,
      { details: { field: 'buckets', waiting: waiting.length } },
    );
  }
  await Promise.all(
    own.filter((b) => recorded[b] !== String(count)).map((b) => redis.set(layoutKey(root, b), String(count))),
  );
}

/**
 * The plan of each bucket's stream queue: stream `{root#b}:writes`, group `{root#b}:flushers`, dead
 * letters `{root#b}:writes:dead` (one slot per bucket), one consumer name for all of them.
 */
export function planBucketStreams(
  options: Omit<
    RedisStreamQueueOptions,
    'url' | 'redis' | 'redisOptions' | 'stream' | 'deadLetterStream' | 'group'
  > & {
    keyPrefix: string;
  },
  count: number,
  clustered: boolean,
): StreamQueuePlan[] {
  const consumer = options.consumer ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  return Array.from({ length: count }, (_, b) =>
    planStreamQueue(
      {
        ...options,
        consumer,
        stream: bucketStream(options.keyPrefix, b),
        group: `{${options.keyPrefix}#${b}}:flushers`,
      },
      clustered,
    ),
  );
}
