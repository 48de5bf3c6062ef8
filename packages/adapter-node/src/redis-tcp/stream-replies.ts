import { StrataError } from '@strata/core';

/** One stream entry as Redis returns it: its id and its flat `[field, value, …]` list. */
export interface StreamEntry {
  readonly id: string;
  readonly fields: readonly string[];
}

/**
 * Entries of an XRANGE / XAUTOCLAIM / XREADGROUP reply: `[[id, [f, v, …]], …]`. An entry with
 * `null` fields (deleted while pending, Redis 6.2's XAUTOCLAIM) holds nothing to deliver: skipped.
 */
export function entriesOf(reply: unknown, op: string): StreamEntry[] {
  if (!Array.isArray(reply)) throw unexpected(op, 'a list of entries');
  return reply.flatMap((item: unknown) => {
    if (!Array.isArray(item) || typeof item[0] !== 'string') throw unexpected(op, 'an [id, fields] entry');
    const fields: unknown = item[1];
    if (fields === null) return [];
    if (!Array.isArray(fields) || !fields.every((f) => typeof f === 'string')) {
      throw unexpected(op, 'the fields of an entry');
    }
    return [{ id: item[0], fields }];
  });
}

/**
 * XREADGROUP's entries for `stream`: `null` when there is nothing new; `[[stream, entries]]` in
 * RESP2 (and ioredis's default RESP3 mapping); `{ [stream]: entries }` under `replyMapping: 'resp3'`.
 */
export function readGroupEntries(reply: unknown, stream: string): StreamEntry[] {
  if (reply === null) return [];
  return entriesOf(rawEntries(reply, stream), 'XREADGROUP');
}

/** The `[[id, fields], …]` list of `stream` in an XREADGROUP reply (RESP2 pairs or a RESP3 map). */
function rawEntries(reply: unknown, stream: string): unknown {
  if (Array.isArray(reply)) {
    const pair = reply.find((item: unknown) => Array.isArray(item) && item[0] === stream) as
      | unknown[]
      | undefined;
    return pair === undefined ? [] : pair[1];
  }
  if (typeof reply === 'object' && reply !== null) return (reply as Record<string, unknown>)[stream] ?? [];
  throw unexpected('XREADGROUP', 'a stream map');
}

/**
 * XREADGROUP of a consumer's history (`0`): its pending entries, and the ids of those deleted while
 * pending (`[id, null]`), which hold nothing to deliver.
 */
export function historyEntries(
  reply: unknown,
  stream: string,
): { entries: StreamEntry[]; emptied: string[] } {
  const raw = reply === null ? [] : rawEntries(reply, stream);
  const emptied = (Array.isArray(raw) ? raw : []).flatMap((item: unknown) =>
    Array.isArray(item) && typeof item[0] === 'string' && item[1] === null ? [item[0]] : [],
  );
  return { entries: entriesOf(raw, 'XREADGROUP'), emptied };
}

/** XAUTOCLAIM: `[next cursor, claimed entries, ids that were deleted meanwhile (Redis 7)]`. */
export function autoclaimReply(reply: unknown): { next: string; entries: StreamEntry[]; vanished: number } {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') throw unexpected('XAUTOCLAIM', 'a cursor');
  const deleted: unknown = reply[2];
  return {
    next: reply[0],
    entries: entriesOf(reply[1], 'XAUTOCLAIM'),
    vanished: Array.isArray(deleted) ? deleted.length : 0,
  };
}

/** The delivery count in an extended XPENDING reply for one id (`[[id, consumer, idle, count]]`). */
export function deliveryCount(reply: unknown): number | undefined {
  if (!Array.isArray(reply)) throw unexpected('XPENDING', 'a list');
  const row: unknown = reply[0];
  if (row === undefined) return undefined;
  const count = Array.isArray(row) ? Number(row[3]) : Number.NaN;
  if (!Number.isSafeInteger(count)) throw unexpected('XPENDING', 'a delivery count');
  return count;
}

/** The replies of a pipeline or MULTI/EXEC, throwing the first command error. */
export function results(replies: [Error | null, unknown][] | null, op: string): unknown[] {
  if (replies === null) throw unexpected(op, 'a transaction result');
  return replies.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

/** True for Redis's "the group (or the stream) is gone" error. */
export function isNoGroup(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOGROUP');
}

function unexpected(op: string, what: string): StrataError {
  return new StrataError('QUEUE_UNAVAILABLE', `Redis Stream queue ${op}: expected ${what} in the reply`, {
    details: { op },
  });
}
