import type { PendingWrite, Row } from '../l3/types.js';
import type { QueuedWrite } from '../queue/types.js';

/*
 * A partial set over queued writes a mark covers carries their fold beneath its own columns
 * (`QueuedWrite.under`): the flush applies it first, at their version, where Postgres holds the key
 * older. Its pending index entry holds only the set's own columns (what a later partial set carries
 * over its own, and what an older Strata reads), so the fold lies beside it, in field
 * `<{row key}` (`u` then the `under` as the queue message holds it, JSON: not JSON itself, which a
 * client that deserializes replies would turn into an object), which a search lays beneath the
 * entry's row as the flush would (drizzle/overlay.ts): else, until the flush, a search read
 * Postgres's older value of a column only the writes beneath set
 * (reliability/test/regression-search-beneath.test.ts). An older Strata reads no such field; its
 * `done` leaves one behind, harmless: it lies at a version Postgres then holds or passed.
 */

type Under = NonNullable<QueuedWrite['under']>;

/** The value of the `<` field for `under` (see above). */
export const beneathValue = (under: Under): string => `u${JSON.stringify(under)}`;

/**
 * From a PENDING `read` reply (field, value, …): per id (a row key less `prefix`), the fold its
 * entry's set carries beneath it. A value that does not parse is left out (the entry reads as before).
 */
export function beneathOf(reply: readonly unknown[], prefix: string): Map<string, Under> {
  const out = new Map<string, Under>();
  const field = `<${prefix}`;
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const name = String(reply[i]);
    const value = reply[i + 1];
    const under = name.startsWith(field) ? parseBeneath(value) : undefined;
    if (under) out.set(name.slice(field.length), under);
  }
  return out;
}

/** A `<` field's value as `beneathValue` wrote it; undefined for anything else (the entry reads without it). */
export function parseBeneath(value: unknown): Under | undefined {
  if (typeof value !== 'string' || value[0] !== 'u') return undefined;
  try {
    // Only `beneathValue` writes it: `below` tells it apart from anything else.
    const under = JSON.parse(value.slice(1)) as Under;
    return Number.isSafeInteger(under?.below) ? under : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `under` as a search lays it: at the version of the writes it stands for (`below` - 1, as
 * `applyBeneath` in flusher.ts applies it), its row decoded by `decode`, its defaults (insert-only)
 * those of the columns it holds.
 */
export function pendingUnder(under: Under, decode: (text: string) => Row): PendingWrite['under'] {
  const version = under.below - 1;
  if (under.row === undefined) return { version };
  const row = decode(under.row);
  const defaults = Array.isArray(under.defaults) ? under.defaults.filter((k) => row[k] !== undefined) : [];
  return { version, row, ...(defaults?.length && { defaults }) };
}
