import {
  type DeadLetter,
  decodeQueuedWrite,
  type QueuedWrite,
  type UnreadableDeadLetter,
} from '@strata/core/driver';
import type { StreamEntry } from './stream-replies.js';

/**
 * The field of a stream entry that holds the write, as the JSON of a `QueuedWrite`: `XADD <stream> *
 * w <json>`. Anything else that writes to the stream (the crash test's child process) uses this.
 */
export const WRITE_FIELD = 'w';

/** An entry read back: the write, or why it is not one (and what was there instead). */
export type ReadEntry =
  | { readonly id: string; readonly write: QueuedWrite }
  | { readonly id: string; readonly write: null; readonly raw: string; readonly problem: string };

/** The value of `field` in a flat `[field, value, …]` list. */
function fieldOf(fields: readonly string[], field: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === field) return fields[i + 1];
  return undefined;
}

/** Reads the write an entry holds; never throws: a malformed entry comes back with its problem. */
export function readEntry(entry: StreamEntry): ReadEntry {
  const json = fieldOf(entry.fields, WRITE_FIELD);
  if (json === undefined) {
    return {
      id: entry.id,
      write: null,
      raw: JSON.stringify(entry.fields),
      problem: `no "${WRITE_FIELD}" field`,
    };
  }
  try {
    return { id: entry.id, write: decodeQueuedWrite(json) };
  } catch (err) {
    return { id: entry.id, write: null, raw: json, problem: (err as Error).message.replace(/^strata: /, '') };
  }
}

/** A dead-letter stream entry back as a `DeadLetter` (or, for an entry that never was a write, unreadable). */
export function readDeadLetter(entry: StreamEntry): DeadLetter | UnreadableDeadLetter {
  const read = readEntry(entry);
  const common = {
    handle: fieldOf(entry.fields, 'handle') ?? entry.id,
    reason: fieldOf(entry.fields, 'reason') ?? '',
    attempts: Number(fieldOf(entry.fields, 'attempts') ?? 0),
  };
  return read.write === null ? { ...common, write: null, raw: read.raw } : { ...common, write: read.write };
}
