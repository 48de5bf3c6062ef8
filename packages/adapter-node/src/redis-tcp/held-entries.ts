import { StrataError } from '@strata/core';
import type { QueuedWrite } from '@strata/core/driver';
import type { RedisClient } from './cluster-slots.js';
import { readEntry } from './stream-entry.js';
import { entriesOf, results } from './stream-replies.js';
import type { TakeTarget } from './take-batch.js';

/** A stream entry id (`<ms>-<seq>`): what `position` hands out and `heldUpTo` takes back. */
const POSITION = /^\d+-\d+$/;

/**
 * The id of the stream's newest entry ('0-0' when it is empty): every entry enqueued before this
 * call is at or below it, or already gone (acked and deleted). One XREVRANGE.
 */
export async function streamPosition(redis: RedisClient, stream: string): Promise<string> {
  const reply: unknown = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
  return entriesOf(reply, 'XREVRANGE')[0]?.id ?? '0-0';
}

/**
 * Whether the entry `id` (a handle `take` gave) was added after `position`: ids compared as
 * `<ms>-<seq>` pairs. An id that is no entry id is not known to be after anything: false.
 */
export function entryAfter(position: string, id: string): boolean {
  checkPosition('after', position);
  const entry = ENTRY.exec(id);
  if (entry === null) return false;
  const [ms, seq] = position.split('-').map(BigInt) as [bigint, bigint];
  const entryMs = BigInt(entry[1]!);
  return entryMs > ms || (entryMs === ms && BigInt(entry[2] ?? '0') > seq);
}

/** An entry id as Redis hands it out, `<ms>-<seq>` (or `<ms>`, as a caller may write it). */
const ENTRY = /^(\d+)(?:-(\d+))?$/;

function checkPosition(op: string, position: string): void {
  if (!POSITION.test(position)) {
    throw new StrataError('INVALID_CONFIG', `${op}: ${JSON.stringify(position)} is not a stream position`, {
      details: { position },
    });
  }
}

/**
 * Up to `max` writes at or below `position` that a consumer other than `target.consumer` holds
 * (delivered, not acked): another instance mid-flush, or a dead one until its entries are reclaimed.
 * This consumer's own are left out: its takes read them again. One XPENDING, then one pipeline of
 * XRANGE for the held ids; an entry deleted meanwhile (acked) or unreadable is not counted.
 */
export async function heldByOthers(
  redis: RedisClient,
  target: TakeTarget,
  position: string,
  max: number,
): Promise<QueuedWrite[]> {
  checkPosition('heldUpTo', position);
  if (max === 0 || position === '0-0') return [];
  const reply: unknown = await redis.xpending(target.stream, target.group, '-', position, max);
  if (!Array.isArray(reply)) throw unexpectedPending();
  const ids = reply.flatMap((row: unknown) => {
    if (!Array.isArray(row) || typeof row[0] !== 'string') throw unexpectedPending();
    return row[1] === target.consumer ? [] : [row[0]];
  });
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.xrange(target.stream, id, id);
  return results(await pipeline.exec(), 'XRANGE').flatMap((entries) =>
    entriesOf(entries, 'XRANGE').flatMap((entry) => {
      const read = readEntry(entry);
      return read.write === null ? [] : [read.write];
    }),
  );
}

function unexpectedPending(): StrataError {
  return new StrataError(
    'QUEUE_UNAVAILABLE',
    'Redis Stream queue XPENDING: expected [id, consumer, …] rows',
    {
      details: { op: 'XPENDING' },
    },
  );
}
