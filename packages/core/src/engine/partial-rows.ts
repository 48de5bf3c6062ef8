import { NOTHING_WRITTEN, type StrataError, schemaError } from '../errors.js';
import { decodeEnvelope, isCurrent } from '../l2/envelope.js';
import type { Row } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { applyCameBack } from './come-back.js';
import { stampOf } from './l2-values.js';
import { entryTail, peekPending } from './pending-index.js';
import type { SchemaCache } from './schema-cache.js';
import type { KeyedWrite } from './write-through.js';

/*
 * A write-behind set that leaves columns out (a partial row) must read, before its flush, as after
 * it: the flush lays it over the row the key's earlier queued writes leave (flush-fold.ts), or over
 * Postgres's. So the engine merges the sent columns over the key's current row (`mergeOver`) and
 * writes that whole row to the pending L2 row (get) and L1. The queue and the pending index get
 * only the "sent fold": the columns this write sent over those of the key's still-queued writes
 * (their index entry, itself a sent fold), never a column read from Postgres or an L2 copy, which a
 * writer outside Strata may have changed since: the flush then upserts only columns a Strata write
 * sent, as a write-through set would, and a search lays the entry over Postgres's stored row. The
 * current row is read in one L2 request for every partial key of a batch (`peekPending`): a queued
 * write's L2 row and index entry (one a hard move orphaned only where newer than Postgres's),
 * else a fresh L2 copy, else Postgres (`basesOf` in partial-bases.ts, one query). The write goes
 * only if no other write of the key landed meanwhile (the key's L2 version is still the one read:
 * ORDERED_PUT's expected versions), else it is merged again: that protects the pending L2
 * row and the sent fold. A newer write carrying its older still-queued writes' columns is what lets
 * two instances' partial writes of a key both survive a flush out of order (the older is refused).
 */

/** How many times a partial write is merged again when its key keeps moving, before it gives up. */
export const MERGE_TRIES = 4;

/** The key of a partial write kept moving (other writes of it) `MERGE_TRIES` times: nothing written. */
export function moved(name: string): StrataError {
  return schemaError('UNAVAILABLE', name, `a partial row's key kept moving; ${NOTHING_WRITTEN}`);
}

/** What a partial write merges over. */
export interface Base {
  /** The version the key's L2 value held when read ('0': none): the write is refused if it moved. */
  readonly expected: string;
  /** The stored row (ciphertext where encrypted); none when the key has no row (or a queued delete). */
  readonly stored?: Row;
  /** Whether a write of the key is queued (pending): `stored` is then the row a get reads. */
  readonly pending: boolean;
  /** Pending: the sent fold of the queued writes (their index entry); none after a queued delete. */
  readonly queued?: Row;
  /**
   * The keys of `queued`'s columns whose values are client defaults for a new row (the index names
   * them, see `named` in l2/scripts.ts): a write carrying `queued` carries them as defaults, an
   * insert's alone (`QueuedWrite.defaults`), not as columns it sets over a row another write made.
   */
  readonly queuedDefaults?: readonly string[];
  /**
   * Pending, but a write-through write or a transaction took a version above the queued writes
   * (the `c` entry of PENDING `peek` with marks): it supersedes them and carries their columns, so
   * this write's sent fold holds none of them (`queued` is absent, and this is no queued delete).
   * Its outcome may be unknown (the mark then stays) and it may never commit, or (a come-back mark)
   * a write of another shape may have superseded them without marking them: a write-behind set puts
   * their fold beneath its own (`beneath`, see `QueuedWrite.under`), applied at the flush only while
   * Postgres holds the key at their version or older; a transaction applies them first (come-back.ts).
   */
  readonly carried?: { readonly mark: number; readonly beneath: Beneath };
  /** Postgres did not answer: nothing to merge over, the write goes as sent (see `basesOf`). */
  readonly unknown?: boolean;
  /** Not known from L2: Postgres is asked (see `basesOf`). */
  readonly unread?: boolean;
}

/**
 * The queued writes a mark covers: their sent fold as the index holds it (queue text) and the keys
 * of its columns that are a new row's defaults (see `QueuedWrite.under`), or a queued delete.
 */
export type Beneath =
  | { readonly row: string; readonly defaults?: string[] }
  | { readonly row?: undefined; readonly defaults?: undefined };

/** Whether a row leaves a column of its schema out. */
export function isPartial(schema: CompiledSchema, row: Row): boolean {
  for (const c of schema.columns) if (row[c.key] === undefined) return true;
  return false;
}

/**
 * `sent` over `base` as the flush's fold applies it: a column `sent` leaves out keeps the base's
 * value, an insert-only (autoNowAdd) column its first one; over no row (none yet, or deleted), the
 * columns left out are null (a column with an SQL default reads null until the flush fills it).
 */
export function mergeOver(schema: CompiledSchema, base: Row | undefined, sent: Row): Row {
  const out: Row = { ...base };
  for (const c of schema.columns) {
    const value = sent[c.key];
    if (value === undefined) {
      if (!base) out[c.key] = null;
    } else if (!(base && base[c.key] != null && schema.insertOnlyKeys.includes(c.key))) {
      out[c.key] = value;
    }
  }
  return out;
}

/**
 * The base a key's L2 value and index entry give (see `peekPending`): for a pending write, its L2 row
 * (plus the omitCache columns its index entry of the same version holds) and that entry's sent fold
 * (none for a queued delete; the L2 row when the index lost the entry, which may then carry columns
 * a get read). Not pending: with `generation`, a fresh copy of this schema's in it (a row, or a
 * cached absence); else `unread` (Postgres holds the row).
 */
export function pendingBase(cache: SchemaCache, value: unknown, entry: unknown, generation?: number): Base {
  const e = typeof value === 'string' ? decodeEnvelope(value) : undefined;
  const expected = e ? String(e.version) : '0';
  const l2Row = e?.kind === 'r' ? cache.rows.fromL2(e.payload) : undefined;
  if (!e?.pending) {
    const copy =
      e &&
      generation !== undefined &&
      (e.kind === 'r' || e.kind === 'a') &&
      stampOf(cache, e.owner) === 0 &&
      isCurrent(e, generation) &&
      (e.freshUntil === 0 || e.freshUntil > cache.l2Now());
    if (!copy) return { expected, pending: false, unread: true };
    return { expected, pending: false, ...(l2Row && { stored: l2Row }) };
  }
  const head = `${expected};`;
  const marked =
    typeof entry === 'string' && entry.startsWith(head) && /^[cb];/.test(entry.slice(head.length));
  const carried = marked && carriedOf(entry, head.length + 2);
  if (carried) return { expected, pending: true, carried, ...(l2Row && { stored: l2Row }) };
  // The index lost the entry (or holds another version's): the L2 row.
  const current = typeof entry === 'string' && entry.startsWith(head);
  const tail = current ? entryTail(entry, head.length) : undefined;
  const queued = current ? tail?.row !== undefined && cache.rows.fromQueue(tail.row) : l2Row;
  const stored = queued && { ...queued, ...l2Row };
  const defaults = queued && tail?.defaults;
  return {
    expected,
    pending: true,
    ...(stored && { stored, queued }),
    ...(defaults && { queuedDefaults: defaults }),
  };
}

/**
 * The mark and the covered entry of a carried index entry from `at` (`{mark};{version};{kind};{row}`,
 * see MARKS in l2/scripts.ts); undefined for anything else. The covered row goes beneath as it is,
 * its defaults named (`QueuedWrite.under`): laid beneath over a row another write made, they are not
 * laid at all (reliability/test/regression-defaults-carried.test.ts).
 */
function carriedOf(entry: string, at: number): Base['carried'] {
  const a = entry.indexOf(';', at);
  const b = entry.indexOf(';', a + 1);
  const tail = a < 0 || b < 0 ? undefined : entryTail(entry, b + 1);
  if (!tail) return undefined;
  const mark = Number(entry.slice(at, a));
  if (!Number.isSafeInteger(mark)) return undefined;
  const defaults = tail.defaults && [...tail.defaults];
  const beneath = tail.row === undefined ? {} : { row: tail.row, ...(defaults && { defaults }) };
  return { mark, beneath };
}

/**
 * A transaction's partial sets of a write-behind schema over the writes of their keys still queued:
 * the transaction supersedes those writes (its version is newer), so it writes the columns they sent
 * (their sent fold, from the index) and it leaves out (after a queued delete, a new row: `replaced`). Keys with nothing queued are
 * left as they are: Postgres holds their other columns. Resolves the writes, and per merged-over
 * key the version it must still hold when the transaction takes its versions (`reserveVersions`).
 */
export async function overQueued(
  cache: SchemaCache,
  writes: readonly KeyedWrite[],
  replaced: Set<string>,
): Promise<{ writes: KeyedWrite[]; expected: Map<string, string>; replaced: Set<string> }> {
  const expected = new Map<string, string>();
  const keys = writes.flatMap((w) =>
    w.row && !replaced.has(w.key) && isPartial(cache.schema, w.row) ? [w.key] : [],
  );
  if (keys.length === 0) return { writes: [...writes], expected, replaced };
  const peeked = await peekPending(cache, keys, cache.keys.shape, true);
  const bases = new Map(keys.map((key, i) => [key, pendingBase(cache, peeked[2 * i], peeked[2 * i + 1])]));
  // Under a mark: applied now, as their flush would, rather than carried (see come-back.ts).
  await applyCameBack(cache, writes, bases);
  const out: KeyedWrite[] = [];
  for (const w of writes) {
    const base = bases.get(w.key);
    if (!base?.pending || base.carried || !w.row) {
      out.push(w);
      continue;
    }
    expected.set(w.key, base.expected);
    if (!base.queued) replaced.add(w.key);
    const over = base.queued && (await cache.rows.decryptRow(base.queued, w.key));
    // The queued new row's defaults it carries stay an insert's (regression-defaults-over-held-tx).
    const defaults = over ? carriedDefaults(base.queuedDefaults, w.row) : undefined;
    out.push({
      ...w,
      row: over ? withoutFilledNulls(cache.schema, mergeOver(cache.schema, over, w.row), w.row) : w.row,
      ...(defaults && { defaults }),
    });
  }
  return { writes: out, expected, replaced };
}

/**
 * The keys of `queued` defaults (a queued new row's client defaults, see `Base.queuedDefaults`) a
 * write carrying that row over its own `sent` columns still holds as defaults: those it leaves out.
 * Undefined for none.
 */
export function carriedDefaults(
  queued: readonly string[] | undefined,
  sent: Row,
): readonly string[] | undefined {
  const kept = queued?.filter((key) => sent[key] === undefined);
  return kept && kept.length > 0 ? kept : undefined;
}

/**
 * `merged` (changed in place) less the nulls `mergeOver` filled in for a new row's columns with an
 * SQL default, which Postgres fills when the row is inserted: a queued row or a transaction sends
 * them neither. A null an earlier write set explicitly in such a column and `sent` leaves out is
 * indistinguishable: it is not sent again.
 */
export function withoutFilledNulls(schema: CompiledSchema, merged: Row, sent: Row): Row {
  for (const c of schema.columns) {
    if (
      sent[c.key] === undefined &&
      merged[c.key] === null &&
      (c.column as { hasDefault?: boolean }).hasDefault
    )
      delete merged[c.key];
  }
  return merged;
}

/** The columns `sent` (client defaults filled) names, as `row` (stored: ciphertext where encrypted) holds them. */
export function sentOnly(schema: CompiledSchema, row: Row, sent: Row): Row {
  const out: Row = {};
  for (const c of schema.columns) if (sent[c.key] !== undefined) out[c.key] = row[c.key];
  return out;
}
