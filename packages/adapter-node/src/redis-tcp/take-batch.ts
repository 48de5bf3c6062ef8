import type { RedisClient } from './cluster-slots.js';
import type { RedisStreamQueueStats } from './queue.js';
import { type ReadEntry, readEntry } from './stream-entry.js';
import {
  autoclaimReply,
  deliveryCount,
  readGroupEntries,
  results,
  type StreamEntry,
} from './stream-replies.js';

/** What `take` needs to know about the stream it reads. */
export interface TakeTarget {
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly claimIdleMs: number;
}

/** An entry `take` got, read (or found malformed), with its earlier deliveries. */
export type TakenEntry = ReadEntry & { readonly attempts: number };

/**
 * Up to `max` entries for this consumer: reclaimed ones first (idle past `claimIdleMs` in any
 * consumer, including this one's retries), then new ones. Round trips: one XAUTOCLAIM (more only when
 * the pending list is long), one pipeline of XPENDING when something was reclaimed, one XREADGROUP
 * when there is room left.
 */
export async function takeBatch(
  redis: RedisClient,
  target: TakeTarget,
  max: number,
  stats: Pick<RedisStreamQueueStats, 'reclaimed' | 'vanished'>,
): Promise<TakenEntry[]> {
  const reclaimed = await reclaim(redis, target, max, stats);
  const counts = await deliveryCounts(redis, target, reclaimed);
  const fresh = reclaimed.length < max ? await readNew(redis, target, max - reclaimed.length) : [];
  return [
    // Reclaimed = delivered before: at least 1, whatever XPENDING says by now (acked meanwhile).
    ...reclaimed.map((entry, i) => ({ ...readEntry(entry), attempts: Math.max(1, (counts[i] ?? 2) - 1) })),
    ...fresh.map((entry) => ({ ...readEntry(entry), attempts: 0 })),
  ];
}

/** XAUTOCLAIM from the start of the pending list until `max` are claimed or the whole list is scanned. */
async function reclaim(
  redis: RedisClient,
  { stream, group, consumer, claimIdleMs }: TakeTarget,
  max: number,
  stats: Pick<RedisStreamQueueStats, 'reclaimed' | 'vanished'>,
): Promise<StreamEntry[]> {
  const claimed: StreamEntry[] = [];
  let cursor = '0-0';
  do {
    const reply = await redis.xautoclaim(
      stream,
      group,
      consumer,
      claimIdleMs,
      cursor,
      'COUNT',
      max - claimed.length,
    );
    const { next, entries, vanished } = autoclaimReply(reply);
    claimed.push(...entries);
    stats.vanished += vanished;
    cursor = next;
  } while (cursor !== '0-0' && claimed.length < max);
  stats.reclaimed += claimed.length;
  return claimed;
}

/** Redis's delivery count of each entry (the reclaim just counted one more), in one round trip. */
async function deliveryCounts(
  redis: RedisClient,
  { stream, group }: TakeTarget,
  entries: readonly StreamEntry[],
): Promise<(number | undefined)[]> {
  if (entries.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const { id } of entries) pipeline.xpending(stream, group, id, id, 1);
  return results(await pipeline.exec(), 'XPENDING').map(deliveryCount);
}

async function readNew(
  redis: RedisClient,
  { stream, group, consumer }: TakeTarget,
  count: number,
): Promise<StreamEntry[]> {
  const reply: unknown = await redis.xreadgroup(
    'GROUP',
    group,
    consumer,
    'COUNT',
    count,
    'STREAMS',
    stream,
    '>',
  );
  return readGroupEntries(reply, stream);
}
