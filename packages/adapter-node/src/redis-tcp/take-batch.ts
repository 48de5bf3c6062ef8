import type { RedisClient } from './cluster-slots.js';
import type { RedisStreamQueueStats } from './queue.js';
import { type ReadEntry, readEntry } from './stream-entry.js';
import {
  autoclaimReply,
  deliveryCount,
  historyEntries,
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
 * Up to `max` entries for this consumer: first its own pending ones that are not `inFlight` (Redis
 * handed them to it but no caller has them: a take whose reply was lost to a timeout or a cut
 * connection, which a client may even send again after giving up on it; or ones released by
 * `retry`), then reclaimed ones (idle past `claimIdleMs` in any consumer), then new ones. Without
 * the first, lost entries would wait `claimIdleMs` while `flushDirty` returned as if the queue were
 * drained. The caller runs takes one at a time, so `inFlight` is complete when this reads.
 *
 * Round trips: one XREADGROUP of the history (`0`), one XAUTOCLAIM (more only when the pending list
 * is long) when there is room left, one pipeline of XPENDING when something was read again, one
 * XREADGROUP of new entries when there is room left.
 */
export async function takeBatch(
  redis: RedisClient,
  target: TakeTarget,
  max: number,
  stats: Pick<RedisStreamQueueStats, 'reclaimed' | 'vanished'>,
  inFlight: ReadonlySet<string> = new Set(),
): Promise<TakenEntry[]> {
  const own = await readOwnPending(redis, target, max, stats, inFlight);
  const taken = new Set(own.map((entry) => entry.id));
  const reclaimed =
    own.length < max
      ? (await reclaim(redis, target, max - own.length, stats)).filter((entry) => !taken.has(entry.id))
      : [];
  const again = [...own, ...reclaimed];
  const counts = await deliveryCounts(redis, target, again);
  const fresh = again.length < max ? await readNew(redis, target, max - again.length) : [];
  return [
    // Read again = delivered before: at least 1, whatever XPENDING says by now (acked meanwhile).
    ...again.map((entry, i) => ({ ...readEntry(entry), attempts: Math.max(1, (counts[i] ?? 2) - 1) })),
    ...fresh.map((entry) => ({ ...readEntry(entry), attempts: 0 })),
  ];
}

/**
 * This consumer's pending entries no caller holds (XREADGROUP from `0`: its history, which counts a
 * delivery). Entries deleted while pending hold nothing to deliver: acked, so they stop taking room.
 */
async function readOwnPending(
  redis: RedisClient,
  target: TakeTarget,
  max: number,
  stats: Pick<RedisStreamQueueStats, 'reclaimed' | 'vanished'>,
  inFlight: ReadonlySet<string>,
): Promise<StreamEntry[]> {
  const reply: unknown = await redis.xreadgroup(
    'GROUP',
    target.group,
    target.consumer,
    'COUNT',
    max + inFlight.size,
    'STREAMS',
    target.stream,
    '0',
  );
  const history = historyEntries(reply, target.stream);
  const emptied = history.emptied.filter((id) => !inFlight.has(id));
  if (emptied.length > 0) {
    await redis.xack(target.stream, target.group, ...emptied);
    stats.vanished += emptied.length;
  }
  const entries = history.entries.filter((entry) => !inFlight.has(entry.id)).slice(0, max);
  stats.reclaimed += entries.length;
  return entries;
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
