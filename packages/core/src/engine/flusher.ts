import { isStrataError, messageOf, schemaError } from '../errors.js';
import { holdsFlush, sqlStateOf } from '../l3/pg-errors.js';
import type { Row, WriteOutcome } from '../l3/types.js';
import { triesMade } from '../queue/dead-letter.js';
import type { Delivery, QueuedWrite } from '../queue/types.js';
import { withTimeout } from '../resilience/with-timeout.js';
import { settleConditional } from './conditional-writes.js';
import type { EngineContext } from './context.js';
import { checkCountersTolerated, markCounters, marksOf } from './counter-marks.js';
import { folded, groupBySchema, type Item, refusedRow } from './flush-fold.js';
import { reportWriteError } from './hooks.js';
import { type Id, idKey } from './ids.js';
import { mergeRefusedSets, type RefusedWrite } from './merge-refused.js';
import { otherShapes, unmapped } from './pending-elsewhere.js';
import type { SchemaCache, Versioned } from './schema-cache.js';
import { reportSupersededAcrossEpoch } from './superseded-epoch.js';
import { recordWithdrawal, withdrawWrites } from './withdraw.js';
import { WITHDRAWN_AGAIN, withdrawnAgain } from './withdrawn-again.js';

export interface FlushOutcome {
  /** Applied, superseded by a newer write, or already applied (redelivered): done. */
  acked: string[];
  /** Failed this time: deliver again. */
  retried: string[];
  /**
   * The part of `retried` that L3 could not judge (down, or not ready: a missing table), the
   * `withdrawing` ones, and dead letters whose withdrawal Postgres did not record (see
   * `recordWithdrawal`): flushing again at once would fail the same way. The rest are poison
   * suspects on their way to the dead-letter store, and `foreign` ones.
   */
  held: string[];
  /**
   * The part of `held` that failed alone `writeBehind.maxRetry` times but whose cached copy L2 did
   * not withdraw (unreachable): the message is the only durable record that the copy must go, so it
   * is dead-lettered on a later delivery, once L2 takes the withdrawal.
   */
  withdrawing: string[];
  /**
   * The part of `retried` naming a schema no instance here registered: another app's writes on a
   * shared queue, or a schema a newer deploy added. Left for a consumer that knows them, never
   * applied here and never dead-lettered here.
   */
  foreign: string[];
  /**
   * Poison (cannot decode, names another id, or failed alone `writeBehind.maxRetry` times).
   * `withdrawn`: recorded withdrawn in Postgres; once its dead letter is sent, say so
   * (`Strata.deadLettersSent`; the pull queues' flush loop does), or its withdrawal is never cleaned up.
   */
  dead: { delivery: Delivery; reason: string; withdrawn?: true }[];
}

/** Tells the other instances which keys changed (at which versions). */
export type Publish = (
  cache: SchemaCache,
  keys: readonly string[],
  versions: readonly number[],
  op: 'set' | 'invalidate',
) => Promise<void>;

/**
 * Applies a batch of write-behind deliveries to L3, each only over an older version of its key (so
 * replays and out-of-order retries change nothing), then replaces the cached rows with the rows as
 * Postgres applied them (its defaults, the columns a write left out, the kept autoNowAdd) in the
 * same step, and tells the other instances.
 *
 * A batch Postgres refuses for a reason that may pass (unreachable, a timeout, a deadlock: no
 * SQLSTATE or a transient class) or that says the database is not ready (a missing table, column or
 * grant: `holdsFlush`) is retried whole: nothing is dead-lettered for it. Any other
 * refusal splits the batch in halves until the writes that fail are alone: those are poison by
 * evidence, whatever their SQLSTATE, and the rest land. A write that failed alone
 * `writeBehind.maxRetry` times has its withdrawal recorded in Postgres and its cached copies
 * withdrawn (unless a newer write replaced them), then is dead-lettered and `onWriteError` gets
 * WRITE_BEHIND_MAX_RETRY with the cause; while Postgres or L2 does not take the withdrawal, it is
 * held instead (`withdrawing`: L2).
 */
export async function flushDeliveries(
  ctx: EngineContext,
  lookup: (identity: string) => SchemaCache | undefined,
  batch: readonly Delivery[],
  publish: Publish,
): Promise<FlushOutcome> {
  const outcome: FlushOutcome = { acked: [], retried: [], held: [], withdrawing: [], foreign: [], dead: [] };
  // Writes of unknown outcome: each flushed at the version it landed at, or dropped (see conditional-writes.ts).
  const deliveries = await settleConditional(ctx, (write) => ownCache(ctx, lookup, write), batch, outcome);
  const items: Item[] = [];
  const claimed = await claimedElsewhere(deliveries.map((d) => ownCache(ctx, lookup, d.write)));
  for (const delivery of deliveries) {
    const { write } = delivery;
    const cache = ownCache(ctx, lookup, write);
    let row: Row | undefined;
    let under: Item['under'];
    try {
      const mine = cache?.l3 && !claimed.has(cache);
      row = mine && write.op === 'set' ? cache.rows.fromQueue(write.row ?? '') : undefined;
      if (row && write.under) {
        const { below, row: beneath, defaults } = write.under;
        under =
          beneath === undefined
            ? { below }
            : { below, row: cache!.rows.fromQueue(beneath), ...(defaults && { defaults }) };
      }
    } catch (err) {
      // A rolling deploy changing the codec: another live version's write, which its flusher decodes.
      if (otherShapes(cache!, true).length > 0) {
        outcome.retried.push(delivery.handle);
        outcome.foreign.push(delivery.handle);
        continue;
      }
      // No retry can apply it: counted as a failed flush too, never silently dropped.
      ctx.counters.error('flush');
      deadLetter(ctx, cache!, delivery, `undecodable row: ${messageOf(err)}`, outcome);
      continue;
    }
    // A rolling deploy: another live version's write with a column this one does not map would
    // lose it here; that version's flusher takes it (once no other version is live, this applies it).
    // Other shapes first: with none live (the usual case) no row's keys are walked.
    const others = cache?.l3 && !claimed.has(cache) && row ? otherShapes(cache).length > 0 : false;
    if (
      !cache?.l3 ||
      claimed.has(cache) ||
      (others && (unmapped(cache, row!) || (under?.row && unmapped(cache, under.row))))
    ) {
      outcome.retried.push(delivery.handle);
      outcome.foreign.push(delivery.handle);
      continue;
    }
    const pk = cache.schema.primaryKey.key;
    // The version guards the message's id: a row naming another id would overwrite that row unguarded.
    if (row && idKey(row[pk] as Id) !== write.id) {
      ctx.counters.error('flush');
      deadLetter(ctx, cache, delivery, `the row's primary key is not the message's id ${write.id}`, outcome);
      continue;
    }
    items.push({
      delivery,
      cache,
      key: write.id,
      id: row ? (row[pk] as Id) : write.id,
      ...(row && { row }),
      ...(under && { under }),
      ...(row && write.defaults && { defaults: write.defaults }),
    });
  }
  if (items.length > 0) {
    // An instance that only flushes (a queue consumer) holds the app's claims too.
    ctx.claims.keep(new Set(items.map((item) => item.cache)));
    await applyOrSplit(ctx, items, outcome, publish);
  }
  return outcome;
}

/** Puts `delivery` among the outcome's dead letters and logs it (every dead letter is logged, once). */
function deadLetter(
  ctx: EngineContext,
  cache: SchemaCache,
  delivery: Delivery,
  reason: string,
  outcome: FlushOutcome,
  withdrawn = false,
): void {
  outcome.dead.push({ delivery, reason, ...(withdrawn && { withdrawn: true as const }) });
  ctx.config.logger.error('write-behind: dead-lettered', {
    schema: cache.schema.name,
    id: delivery.write.id,
    // The tries made, this one counted: what the dead letter and the error say too.
    attempts: triesMade(delivery),
    reason,
  });
}

/**
 * The cache of the table a write names, when the write is this app's: it names this keyPrefix, or
 * none (an older producer's message, or a Redis Stream entry, named by its table alone). Another
 * keyPrefix's write is another tenant's even over a table of the same name: never applied here.
 */
export function ownCache(
  ctx: EngineContext,
  lookup: (identity: string) => SchemaCache | undefined,
  write: QueuedWrite,
): SchemaCache | undefined {
  const { keyPrefix } = write;
  return keyPrefix === undefined || keyPrefix === ctx.config.keyPrefix ? lookup(write.schema) : undefined;
}

/**
 * The schemas whose keyPrefix another app holds (see `L3Claim`: another database, or another
 * search_path schema with tables of the same names): this instance cannot write-behind to them, so
 * the writes in the shared queue are that app's, left for it, never applied here. When L3 did not
 * say which database it is, whose writes these are is unknown: the round fails (L3_UNAVAILABLE; the
 * batch is let go), nothing applied. Before, such a flusher applied the writes of whatever app
 * shared its keyPrefix to its own table. Any other failure to read the generation (L2 down) does not
 * stop the flush: Postgres takes the writes.
 */
async function claimedElsewhere(caches: readonly (SchemaCache | undefined)[]): Promise<Set<SchemaCache>> {
  const claimed = new Set<SchemaCache>();
  for (const cache of new Set(caches)) {
    try {
      await cache?.generation?.checked();
    } catch (err) {
      if (isStrataError(err, 'INVALID_CONFIG')) claimed.add(cache!);
      else if (cache!.generation!.claim?.known === undefined) throw err;
    }
  }
  return claimed;
}

async function applyOrSplit(
  ctx: EngineContext,
  items: readonly Item[],
  outcome: FlushOutcome,
  publish: Publish,
): Promise<void> {
  let results: WriteOutcome[][];
  const bySchema = groupBySchema(folded(items.map(({ under: _under, ...rest }) => rest)));
  // Before Postgres applies the batch: a Redis reset found after it (by the settle's reply, or
  // before the settle is sent) may have taken a newer write's copy, so the settle leaves markers,
  // not rows (see reset-since.ts; regression-flush-settle-reset.test.ts).
  const since = new Map([...bySchema.keys()].map((cache) => [cache, cache.l2 && cache.resetsSeen()]));
  try {
    const l3 = items[0]!.cache.l3!;
    await applyBeneath(ctx, items);
    const ops = [...bySchema].map(([cache, group]) => ({
      schema: cache.schema,
      writes: group.map((item) => ({
        ...(item.row ? { row: item.row } : { id: item.id }),
        version: item.delivery.write.version,
        ...(item.replace && { replace: true }),
        ...(item.defaults && { defaults: item.defaults }),
        ...(item.folds && { since: item.folds[0]!.delivery.write.version }),
        ...(item.setAt && { setAt: item.setAt }),
      })),
    }));
    // Beside the write (not in its way): Postgres' marks of the counters these versions came from.
    const marked = markFlushed(ctx, items);
    try {
      results = await withTimeout(l3.write(ops), ctx.config.timeouts.l3, `L3 flush (${l3.name})`);
    } finally {
      await marked;
    }
  } catch (err) {
    ctx.counters.error('l3');
    if (holdsFlush(err) || items.length === 1) return failed(ctx, items, err, outcome, publish);
    const half = Math.ceil(items.length / 2);
    await applyOrSplit(ctx, items.slice(0, half), outcome, publish);
    await applyOrSplit(ctx, items.slice(half), outcome, publish);
    return;
  }
  // Every delivery of the batch is done (applied, folded into a newer write of its key, or older
  // than what Postgres holds) except those of a fold another write of the key interrupted.
  const interrupted: (readonly Item[])[] = [];
  let i = 0;
  const appliedBySchema = [...bySchema].map(([cache, group]) => {
    const applied: Versioned[] = [];
    // Writes Postgres holds a newer version of (a transaction committed over them): their pending
    // rows, which nothing else replaces now, go from every cache (only at their own version).
    const superseded: Versioned[] = [];
    // Sets, and deletes (whose merge resets the columns no later write set: see `L3Tier.mergeRefused`).
    const refusedSets: (RefusedWrite & { item: Item })[] = [];
    // Copies queued again after a reset (not merged), asked only whether they are withdrawn.
    const refusedCopies: { key: string; delivery: Delivery }[] = [];
    (results[i++] ?? []).forEach((result, j) => {
      const item = group[j]!;
      if (!result.applied) {
        const { version } = item.delivery.write;
        if (item.folds) interrupted.push(item.folds);
        else superseded.push({ key: item.key, version });
        // A copy queued again after a reset is a redelivery: the app's newer writes merged over it.
        if (!item.folds && item.delivery.write.restored)
          refusedCopies.push({ key: item.key, delivery: item.delivery });
        else if (!item.folds)
          refusedSets.push({
            key: item.key,
            id: item.id,
            version,
            ...(item.row && { row: refusedRow(item)! }),
            item,
          });
        return;
      }
      applied.push({ key: item.key, version: result.version, ...(result.row && { stored: result.row }) });
    });
    return [cache, applied, superseded, refusedSets, refusedCopies] as const;
  });
  const again = new Set(interrupted.flat().map((item) => item.delivery.handle));
  for (const [cache, , superseded, refusedSets, refusedCopies] of appliedBySchema) {
    if (superseded.length === 0) continue;
    // A dead letter delivered again (its send failed, or a reset took it unsent and its writer
    // queued a copy): to the dead-letter store, not acked as older.
    const refused = [
      ...refusedSets.map((r) => ({ key: r.key, delivery: r.item.delivery })),
      ...refusedCopies,
    ];
    const { withdrawn, unknown } = await withdrawnAgain(ctx, cache, refused);
    for (const { delivery } of refused) {
      if (!unknown && !withdrawn.has(delivery.handle)) continue;
      again.add(delivery.handle);
      if (!unknown) deadLetter(ctx, cache, delivery, WITHDRAWN_AGAIN, outcome, true);
      else {
        outcome.retried.push(delivery.handle);
        outcome.held.push(delivery.handle);
      }
    }
    refusedSets.splice(
      0,
      refusedSets.length,
      ...refusedSets.filter((r) => !again.has(r.item.delivery.handle)),
    );
  }
  const merged = new Set<SchemaCache>();
  for (const [cache, , superseded, refusedSets] of appliedBySchema) {
    if (refusedSets.length === 0) continue;
    // Their columns no later write set, applied now (a write of a later epoch did not carry them).
    try {
      if (await mergeRefusedSets(ctx, cache, refusedSets, publish)) merged.add(cache);
    } catch (err) {
      ctx.counters.error('l3');
      ctx.config.logger.warn('write-behind merge of refused writes failed', { error: messageOf(err) });
      // Delivered again (refused again, merged then); past `maxRetry`, reported as lost below.
      const retry = refusedSets.filter((r) => r.item.delivery.attempts + 1 < ctx.config.writeBehind.maxRetry);
      for (const r of retry) {
        again.add(r.item.delivery.handle);
        outcome.retried.push(r.item.delivery.handle);
        superseded.splice(
          superseded.findIndex((s) => s.key === r.key && s.version === r.version),
          1,
        );
      }
      refusedSets.splice(0, refusedSets.length, ...refusedSets.filter((r) => !retry.includes(r)));
    }
  }
  outcome.acked.push(
    ...items.filter((item) => !again.has(item.delivery.handle)).map((item) => item.delivery.handle),
  );
  for (const [cache, applied, superseded, refusedSets] of appliedBySchema) {
    if (superseded.length > 0) {
      // Refused as older: usually a transaction's or a redelivery's doing, but also what a counter
      // that went back (a Redis restored from an older snapshot) gets: checked now, so that the
      // instance moves it into a new epoch before its next write rather than at its next claim.
      await checkCountersTolerated(ctx, cache, 'check counters');
      // Unmerged, a write of a later epoch (a takeover, a lost counter) carried none of their
      // columns: loud. Merged or not, one its gone-back counter may have numbered below an earlier
      // write: loud.
      const sets = refusedSets.flatMap((r) => (r.row ? [{ ...r, row: r.row }] : []));
      await reportSupersededAcrossEpoch(ctx, cache, sets, merged.has(cache));
      const [keys, versions] = [superseded.map((s) => s.key), superseded.map((s) => s.version)];
      await withdrawWrites(ctx, cache, keys, versions, publish);
    }
    if (applied.length === 0) continue;
    const withPlain = await Promise.all(
      applied.map(async (a) =>
        a.stored ? { ...a, plain: await cache.rows.decryptRow(a.stored, a.key) } : a,
      ),
    );
    // Out of the pending index in the same request (after Postgres committed: a search that read
    // the index before finds Postgres at these versions, and lays nothing over them).
    await cache.commit(ctx, withPlain, { settle: true, since: since.get(cache) || undefined });
    await publish(
      cache,
      applied.map((a) => a.key),
      applied.map((a) => a.version),
      'set',
    );
  }
  if (interrupted.length > 0) await oneByOne(ctx, interrupted, outcome, publish);
}

/**
 * The queued writes beneath partial sets (see `QueuedWrite.under`), each alone at the version of
 * the writes it stands for (`below` - 1), before the sets: Postgres takes one only where it holds
 * the key older (neither they nor the write that marked them landed), and records its columns at
 * their own version. Folded into its set, at the set's version, a write the mark stood for (a
 * transaction held meanwhile), refused then as older, found its columns set by a newer write and
 * merged none (reliability/test/regression-through-tx-under-carried.test.ts). One per key (the
 * latest: it carries the most). Nothing else follows from them: their own flush settles the caches.
 */
async function applyBeneath(ctx: EngineContext, items: readonly Item[]): Promise<void> {
  const byKey = new Map<string, Item>();
  for (const item of items) if (item.under) byKey.set(`${item.cache.schema.identity}\u0000${item.key}`, item);
  if (byKey.size === 0) return;
  const ops = [...groupBySchema([...byKey.values()])].map(([cache, group]) => ({
    schema: cache.schema,
    writes: group.map(({ id, under }) => ({
      ...(under!.row ? { row: under!.row } : { id }),
      version: under!.below - 1,
      // A new row's defaults it holds only insert: never over a row another write made.
      ...(under!.row && under!.defaults && { defaults: under!.defaults }),
    })),
  }));
  const l3 = items[0]!.cache.l3!;
  await withTimeout(l3.write(ops), ctx.config.timeouts.l3, `L3 flush (${l3.name})`);
}

/**
 * Folds another write of their key interrupted (a transaction, another app's flush: Postgres holds
 * a version among theirs, which the fold could not take into account): their writes are applied one
 * round per position in version order, each only once the one before it is done, as separate
 * deliveries would have been. Rare, so a round trip per round is fine.
 */
async function oneByOne(
  ctx: EngineContext,
  lists: readonly (readonly Item[])[],
  outcome: FlushOutcome,
  publish: Publish,
): Promise<void> {
  let going = lists;
  for (let round = 0; going.length > 0; round++) {
    await applyOrSplit(
      ctx,
      going.map((list) => list[round]!),
      outcome,
      publish,
    );
    const done = new Set(outcome.acked);
    const held = new Set(outcome.held);
    const next: (readonly Item[])[] = [];
    for (const list of going) {
      const { handle } = list[round]!.delivery;
      if (round + 1 >= list.length) continue;
      if (done.has(handle)) {
        next.push(list);
        continue;
      }
      // Not after a write of the key that did not land: they go back to the queue together.
      for (const later of list.slice(round + 1)) {
        outcome.retried.push(later.delivery.handle);
        if (held.has(handle)) outcome.held.push(later.delivery.handle);
      }
    }
    going = next;
  }
}

async function failed(
  ctx: EngineContext,
  items: readonly Item[],
  err: unknown,
  outcome: FlushOutcome,
  publish: Publish,
): Promise<void> {
  const held = holdsFlush(err);
  ctx.config.logger.warn('write-behind flush failed', {
    held,
    writes: items.length,
    error: messageOf(err),
  });
  for (const item of items) {
    if (held || item.delivery.attempts + 1 < ctx.config.writeBehind.maxRetry) {
      outcome.retried.push(item.delivery.handle);
      if (held) outcome.held.push(item.delivery.handle);
      continue;
    }
    const { cache, delivery } = item;
    const { handle, write } = delivery;
    // A phantom no more: the copy the write put in L1 and L2 goes, unless a newer write replaced it.
    const withdrawn = await withdrawWrites(ctx, cache, [item.key], [write.version], publish);
    // Then recorded in Postgres, where a Redis rollback cannot undo it (see `recordWithdrawal`). Not
    // before: a write recorded withdrawn is refused when delivered again, so one held for L2 would
    // be acked as refused at its next delivery, never dead-lettered nor reported.
    const recorded = withdrawn && (await recordWithdrawal(ctx, cache, [item.key], [write.version]));
    if (!recorded || !withdrawn) {
      // What L2 missed, only this instance remembers (a consumer isolate may never run again): if the
      // message went, every instance would read the row Postgres refused (pending: kept a week, never
      // stale) and every search lay it. What Postgres missed, a Redis rollback would undo (see
      // `recordWithdrawal`). Delivered again, refused again, withdrawn then (the failure is counted
      // and logged by the step that failed); the message is the only record of it meanwhile.
      outcome.retried.push(handle);
      outcome.held.push(handle);
      if (!withdrawn) outcome.withdrawing.push(handle);
      const waitsFor = withdrawn ? 'Postgres to record its withdrawal' : 'L2 to withdraw its cached copy';
      ctx.config.logger.warn(`write-behind: dead letter waits for ${waitsFor}`, {
        schema: cache.schema.name,
        id: write.id,
        attempts: triesMade(delivery),
      });
      continue;
    }
    const reason = `rejected by Postgres (${sqlStateOf(err) ?? 'error'})`;
    deadLetter(ctx, cache, delivery, reason, outcome, cache.l3?.withdraw !== undefined);
    reportGaveUp(ctx, cache, item.key, err, triesMade(delivery));
  }
}

/** Marks the counters of a batch's writes in Postgres (see `marksOf`); a failure is counted and logged. */
function markFlushed(ctx: EngineContext, items: readonly Item[]): Promise<void> {
  const cache = items[0]!.cache;
  const marks = marksOf(
    items.map((item) => ({ cache: item.cache, key: item.key, version: item.delivery.write.version })),
  );
  return markCounters(cache, marks, (err) => ctx.tolerate(cache.schema.name, 'l3', 'mark counters', err));
}

/** WRITE_BEHIND_MAX_RETRY to `onWriteError`; `attempts`: the tries made, the last one counted. */
function reportGaveUp(
  ctx: EngineContext,
  cache: SchemaCache,
  key: string,
  err: unknown,
  attempts: number,
): void {
  const { schema } = cache;
  const gaveUp = schemaError(
    'WRITE_BEHIND_MAX_RETRY',
    schema.name,
    `write of ${key} gave up after ${attempts} attempts`,
    {
      cause: err,
      details: { id: key, attempts },
    },
  );
  reportWriteError(ctx, schema, key, gaveUp);
}
