import type { Row } from '../l3/types.js';
import type { Delivery } from '../queue/types.js';
import type { Id } from './ids.js';
import type { SchemaCache } from './schema-cache.js';

/** A queued write on its way to Postgres: decoded, its schema found. */
export interface Item {
  readonly delivery: Delivery;
  readonly cache: SchemaCache;
  readonly key: string;
  readonly id: Id;
  /** The stored row of a set. */
  readonly row?: Row;
  /** A set folded over a delete of its key: it replaces the row (see `Write.replace`). */
  readonly replace?: boolean;
  /** The writes this one stands for, in version order, when it folds several (see `folded`). */
  readonly folds?: readonly Item[];
  /**
   * A partial set's queued writes beneath it, which a write that may never have landed marked
   * superseded (see `QueuedWrite.under`): their fold (none: a queued delete), and the version Postgres
   * must hold the key below for them to apply.
   */
  readonly under?: { readonly below: number; readonly row?: Row; readonly defaults?: readonly string[] };
  /** Keys of `row`'s columns only an insert sets (see `QueuedWrite.defaults`). */
  readonly defaults?: readonly string[];
  /** A fold's columns an older write of it set last, at that write's version (see `Write.setAt`). */
  readonly setAt?: Readonly<Record<string, number>>;
}

/**
 * One write per key, as applying the batch's writes of that key one by one in version order would
 * leave it: each set takes the columns it gives over the ones before it (a column a later write
 * leaves out keeps an earlier write's value, as it would in Postgres), an insert-only (autoNowAdd)
 * column keeps its first value, a default (`defaults`) applies only to a column no write before it
 * gave (and stays a default: an insert's alone), and a delete starts over (the sets after it replace the row). The
 * result carries the newest version, and what it folds: Postgres applies it only if no other write
 * of the key landed among them (`Write.since`), else they are applied one by one (`oneByOne`).
 */
export function folded(items: readonly Item[]): Item[] {
  const byKey = new Map<string, Item[]>();
  for (const item of items) {
    const at = `${item.cache.schema.identity}\u0000${item.key}`;
    const list = byKey.get(at);
    if (list) list.push(item);
    else byKey.set(at, [item]);
  }
  const out: Item[] = [];
  for (const list of byKey.values()) {
    if (list.length === 1) {
      out.push(list[0]!);
      continue;
    }
    list.sort((a, b) => a.delivery.write.version - b.delivery.write.version);
    const insertOnly = list[0]!.cache.schema.insertOnlyKeys;
    let row: Row | undefined;
    let deleted = false;
    // The columns of `row` whose values are defaults (see `Item.defaults`).
    const defaults = new Set<string>();
    // Per column of `row`, the version of the write that set it; '': the last delete's.
    const setAt = new Map<string, number>();
    for (const item of list) {
      const { version } = item.delivery.write;
      if (!item.row) {
        row = undefined;
        deleted = true;
        defaults.clear();
        setAt.clear();
        setAt.set('', version);
        continue;
      }
      const next: Row = { ...row };
      for (const [column, value] of Object.entries(item.row)) {
        const filled = item.defaults?.includes(column) === true;
        if (value === undefined || (row?.[column] !== undefined && (filled || insertOnly.includes(column))))
          continue;
        next[column] = value;
        setAt.set(column, version);
        if (filled) defaults.add(column);
        else defaults.delete(column);
      }
      row = next;
    }
    const newest = list[list.length - 1]!;
    // Only the columns set below the fold's version: the others are recorded at it anyway.
    const older = [...setAt].filter(([, v]) => v < newest.delivery.write.version);
    const { row: _sent, defaults: _defaults, ...rest } = newest;
    // Sets after a delete make a new row: what Postgres holds for the columns they leave out goes.
    const one =
      row && newest.row
        ? {
            ...rest,
            row,
            ...(deleted && { replace: true }),
            ...(!deleted && defaults.size > 0 && { defaults: [...defaults] }),
            ...(older.length > 0 && { setAt: Object.fromEntries(older) }),
          }
        : rest;
    out.push({ ...one, folds: list });
  }
  return out;
}

export function groupBySchema(items: readonly Item[]): Map<SchemaCache, Item[]> {
  const groups = new Map<SchemaCache, Item[]>();
  for (const item of items) {
    const group = groups.get(item.cache);
    if (group) group.push(item);
    else groups.set(item.cache, [item]);
  }
  return groups;
}

/**
 * A refused set's row for its merge (see `mergeRefusedSets`), less its defaults: a newer write of the
 * key landed first, so the row exists, and a default is never laid over a stored value.
 */
export function refusedRow(item: Item): Row | undefined {
  if (!item.row || !item.defaults) return item.row;
  const row = { ...item.row };
  for (const key of item.defaults) delete row[key];
  return row;
}
