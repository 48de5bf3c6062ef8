import type { Row } from '../l3/types.js';
import { applyCameBack } from './come-back.js';
import { type Base, carriedDefaults, isPartial, mergeOver, pendingBase } from './partial-rows.js';
import { ownColumns } from './pending-elsewhere.js';
import type { SchemaCache } from './schema-cache.js';
import type { ThroughPlan } from './through-order.js';
import type { KeyedWrite } from './write-through.js';

/*
 * One app writing a table in both modes (see `ThroughOrder`): a write-through set that leaves
 * columns out takes a version above every write-behind write of its key acknowledged before it, so
 * their flush is refused as older; the columns they set and it leaves out would be lost (Postgres
 * would lay it over its older row). So it merges over the key's newest acknowledged state, as a
 * write-behind partial set does (partial-rows.ts) and a transaction's (`overQueued`): the sent fold
 * of the writes still queued (their pending index entry, under whichever shape they were queued),
 * read in the script that reserves its version (`RESERVE_THROUGH`), so every write acknowledged
 * before the reservation is seen and none after it matters (its version is higher: it wins anyway).
 * After a queued delete it is a new row (`replace`), as the flush's fold makes it. An app with no
 * counter for the key's bucket has nothing queued there (no write-behind write took a version): no
 * read, no request.
 */

/** The writes as sent (merged where they leave columns out), and the keys whose sets replace the row. */
export interface OverPending {
  readonly writes: KeyedWrite[];
  readonly replaced: ReadonlySet<string>;
}

/**
 * `writes` (as `plan` was made for, same order) with each partial set merged over the queued writes
 * of its key `plan.peeked` found: their sent fold under the set's columns (an insert-only column
 * keeps the queued value), or, after a queued delete, the set as it is, replacing the row. Keys in
 * `skip` (a transaction's set after its own delete of the key: already a new row) are left as they
 * are. Undefined when nothing is queued for any of them (the usual case).
 */
export async function overPending(
  cache: SchemaCache,
  writes: readonly KeyedWrite[],
  plan: ThroughPlan | undefined,
  skip?: ReadonlySet<string>,
): Promise<OverPending | undefined> {
  const peeked = plan?.peeked;
  if (!peeked || !plan.shapes) return undefined;
  await applyMarked(cache, writes, peeked, skip);
  let out: KeyedWrite[] | undefined;
  const replaced = new Set<string>();
  for (const [i, w] of writes.entries()) {
    const seen = peeked[i];
    if (!seen || !w.row || skip?.has(w.key)) continue;
    const queued = queuedFold(cache, seen, plan.shapes.length);
    if (!queued) continue;
    out ??= [...writes];
    if (queued.replace) replaced.add(w.key);
    if (!queued.row) continue;
    const over = await cache.rows.decryptRow(queued.row, w.key);
    // The queued new row's defaults it carries stay an insert's (regression-defaults-carried).
    const defaults = queued.replace ? undefined : carriedDefaults(queued.defaults, w.row);
    out[i] = { ...w, row: mergeOver(cache.schema, over, w.row), ...(defaults && { defaults }) };
  }
  return out && { writes: out, replaced };
}

/**
 * This shape's queued writes of `writes`' keys found under a mark (a transaction whose outcome is
 * unknown reserved above them, or a come-back mark): applied first, each at its version, as a
 * transaction does (see come-back.ts). Skipped here, a queued delete was lost (the set merged over
 * the deleted row, and the merge of the delete's refused flush only sets columns).
 */
async function applyMarked(
  cache: SchemaCache,
  writes: readonly KeyedWrite[],
  peeked: readonly (readonly unknown[] | undefined)[],
  skip: ReadonlySet<string> | undefined,
): Promise<void> {
  const marked = new Map<string, Base>();
  for (const [i, w] of writes.entries()) {
    const seen = peeked[i];
    if (!seen || !w.row || skip?.has(w.key)) continue;
    const base = pendingBase(cache, seen[0], seen[1]);
    if (base.carried) marked.set(w.key, base);
  }
  if (marked.size > 0) await applyCameBack(cache, writes, marked);
}

/**
 * The sent fold of a key's queued writes from its peeked pairs (one per shape, this schema's first):
 * undefined when none is queued; `replace` when a queued delete starts a new row (`row`: the sets
 * queued after it, if any). Shapes' writes are folded in version order (another shape's row as
 * this schema's columns), as the flushes would apply them one by one. Within one shape, the index
 * entry is already the fold of its queued writes: one that starts with a delete is a row there (a
 * column with an SQL default it left out then keeps Postgres's value, as under `overQueued`).
 */
function queuedFold(
  cache: SchemaCache,
  seen: readonly unknown[],
  shapes: number,
): { row?: Row; replace: boolean; defaults?: readonly string[] } | undefined {
  const found: { version: number; row?: Row; defaults?: readonly string[] }[] = [];
  for (let s = 0; s < shapes; s++) {
    const base = pendingBase(cache, seen[2 * s], seen[2 * s + 1]);
    // Carried: a write that reserved its version before this one supersedes them and carries them.
    if (!base.pending || base.carried) continue;
    const row = base.queued && (s === 0 ? base.queued : ownColumns(cache, base.queued));
    const defaults = row && base.queuedDefaults?.filter((k) => row[k] !== undefined);
    found.push({
      version: Number(base.expected),
      ...(row && { row }),
      ...(defaults?.length && { defaults }),
    });
  }
  if (found.length === 0) return undefined;
  found.sort((a, b) => a.version - b.version);
  let row: Row | undefined;
  let replace = false;
  // The columns of `row` whose values are a new row's defaults: one applies only where no write
  // before it gave the column, and stays a default (as the flush's fold, flush-fold.ts).
  const defaults = new Set<string>();
  for (const f of found) {
    if (!f.row) {
      replace = true;
      defaults.clear();
    }
    const next = f.row && row ? mergeOver(cache.schema, row, f.row) : f.row;
    if (next && f.row) {
      for (const [key, value] of Object.entries(f.row)) {
        if (value === undefined) continue;
        if (!f.defaults?.includes(key)) defaults.delete(key);
        else if (row?.[key] !== undefined) next[key] = row[key];
        else defaults.add(key);
      }
    }
    row = next;
  }
  return { ...(row && { row }), replace, ...(defaults.size > 0 && { defaults: [...defaults] }) };
}

/** Per write, whether it is a set leaving columns out; undefined when none is (the usual case). */
export function partialAt(cache: SchemaCache, writes: readonly KeyedWrite[]): boolean[] | undefined {
  let at: boolean[] | undefined;
  writes.forEach((w, i) => {
    if (!w.row || !isPartial(cache.schema, w.row)) return;
    at ??= new Array<boolean>(writes.length).fill(false);
    at[i] = true;
  });
  return at;
}
