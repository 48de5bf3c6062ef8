import { isStrataError } from '../errors.js';
import { EpochMoved } from '../l3/epoch-moved.js';
import type { Row, Write, WriteOutcome } from '../l3/types.js';
import { withTimeout } from '../resilience/with-timeout.js';
import type { EngineContext } from './context.js';
import type { Id } from './ids.js';
import { writeOrdered } from './ordered-writes.js';
import type { SchemaCache, Versioned } from './schema-cache.js';
import { unmarkSuperseded } from './superseded-marks.js';
import type { ThroughPlan } from './through-order.js';
import { overPending, partialAt } from './through-partial.js';
import { outcomeUnknown } from './unknown-outcome.js';

/** One write of a batch: a prepared row to set, or (without `row`) an id to delete. */
export interface KeyedWrite {
  readonly key: string;
  readonly id: Id;
  /** The plaintext row to set; absent for a delete. */
  readonly row?: Row;
}

/** What a write did: the rows as stored (plaintext), and how many deleted keys held a row. */
export interface WriteResult {
  readonly rows: Row[];
  readonly existed: number;
  /** Per write, the version its key holds now: bus messages carry them. */
  readonly versions: number[];
}

/**
 * Write-through: Postgres commits first, ordering each key's write (its version comes from Postgres,
 * in the same statement); only then do L2 and L1 take the rows as stored, and only over older
 * copies. A failed write leaves every cache as it was; one whose outcome is unknown (no SQLSTATE
 * came back: a lost COMMIT reply, a timeout) drops the keys' cached copies, so reads go to Postgres.
 * A schema with no L3 writes L2, ordered by its Redis counter.
 */
export async function writeThrough(
  ctx: EngineContext,
  cache: SchemaCache,
  writes: readonly KeyedWrite[],
  late?: LateWrite,
): Promise<WriteResult> {
  const keys = writes.map((w) => w.key);
  const encrypted = await Promise.all(
    writes.map((w) => (w.row ? cache.rows.encryptRow(w.row, w.key) : undefined)),
  );
  cache.beginWrite(keys);
  try {
    if (!cache.l3) return await sourceL2(ctx, cache, writes, encrypted);
    let outcomes: WriteOutcome[];
    // As sent: a set leaving columns out merged over its key's queued write-behind writes (see `overPending`).
    let sent = { writes, encrypted };
    // The statement last sent: one that timed out still runs (see `LateWrite`).
    let inFlight: Promise<unknown> | undefined;
    try {
      outcomes = await inOrder(ctx, cache, keys, partialAt(cache, writes), async (plan) => {
        const over = plan?.peeked && (await overPending(cache, writes, plan));
        sent = over
          ? { writes: over.writes, encrypted: await reencrypted(cache, over.writes, writes, encrypted) }
          : { writes, encrypted };
        const op = {
          schema: cache.schema,
          writes: sent.writes.map((w, i) =>
            withFloor(
              w.row
                ? { row: sent.encrypted[i]!, ...(over?.replaced.has(w.key) && { replace: true }) }
                : { id: w.id },
              plan,
              i,
            ),
          ),
          ...(plan?.epoch !== undefined && { epoch: plan.epoch }),
        };
        const work = cache.l3!.write([op]);
        inFlight = work;
        const [written = []] = await withTimeout(
          work,
          ctx.config.timeouts.l3,
          `L3 write (${cache.l3!.name})`,
        );
        return [written];
      }).then(([written]) => written!);
    } catch (err) {
      if (outcomeUnknown(err)) await cache.drop(ctx, keys, 'all');
      // Timed out: the statement still runs and may commit after the drop above, once reads have
      // filled the old row again: its keys are dropped again when it settles (see `LateWrite`).
      if (isStrataError(err, 'TIMEOUT') && inFlight) late?.(keys, inFlight);
      throw ctx.l3Error(cache.schema.name, writes.some((w) => w.row) ? 'set' : 'delete', err);
    }
    const items = await committedItems(cache, sent.writes, sent.encrypted, outcomes);
    await cache.commit(ctx, items);
    count(ctx, writes);
    return {
      rows: items.flatMap((item) => (item.plain ? [item.plain] : [])),
      existed: outcomes.filter((o, i) => !writes[i]!.row && o.existed).length,
      versions: items.map((item) => item.version),
    };
  } finally {
    cache.endWrite(keys);
  }
}

/**
 * Told of a write that timed out while its statement still runs (`work`, settling as the statement
 * does): the caller drops `keys` again, everywhere, once it settles. The drop at the timeout alone
 * is not enough: a read between it and a late COMMIT fills the old row back (Postgres still held
 * it), and every tier then kept it over the committed one until its TTL
 * (reliability/test/probe-hostile-7.test.ts).
 */
export type LateWrite = (keys: readonly string[], work: Promise<unknown>) => void;

/** How many times a write-through write is sent again after Postgres found a later epoch. */
export const EPOCH_TRIES = 4;

/**
 * Runs `write` (an L3 write of `keys` of `cache`) in its app's version order (see `ThroughOrder`):
 * with the floors and the epoch guard `plan` says; again, once the app's counters are asked, when
 * Postgres found a later epoch than the one sent. Without a `ThroughOrder` (no L2), as it is.
 */
export async function inOrder<T>(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  partial: readonly boolean[] | undefined,
  write: (plan: ThroughPlan | undefined) => Promise<T>,
): Promise<T> {
  const order = cache.through;
  if (!order) return write(undefined);
  for (let tries = 1; ; tries++) {
    const planned = order.plan(keys, partial);
    const plan = planned instanceof Promise ? await planned : planned;
    try {
      const written = await write(plan);
      await plan.marked;
      order.passed(plan);
      return written;
    } catch (err) {
      // Refused (nothing written): its marks on queued writes of its keys go (see superseded-marks.ts).
      if (plan.floors && refused(err)) await unmarkSuperseded(ctx, cache, keys, plan.floors);
      if (!(err instanceof EpochMoved) || tries >= EPOCH_TRIES) throw err;
      await order.moved(err.epoch);
    }
  }
}

/** Whether a failed write is known to have written nothing: Postgres refused it (or its epoch guard did). */
export function refused(err: unknown): boolean {
  return err instanceof EpochMoved || !outcomeUnknown(err);
}

/** `merged`'s rows encrypted: those of `writes` (same keys, same order) as they were, the merged ones again. */
export function reencrypted(
  cache: SchemaCache,
  merged: readonly KeyedWrite[],
  writes: readonly KeyedWrite[],
  encrypted: readonly (Row | undefined)[],
): Promise<(Row | undefined)[]> {
  return Promise.all(
    merged.map((w, i) =>
      w.row === writes[i]!.row ? encrypted[i] : w.row && cache.rows.encryptRow(w.row, w.key),
    ),
  );
}

/** Write `i` of a write-through op with its floor (see `Write.floor`), when the plan reserved one. */
export function withFloor<W extends Write>(write: W, plan: ThroughPlan | undefined, i: number): W {
  const floor = plan?.floors?.[i];
  return floor === undefined ? write : { ...write, floor };
}

/** The committed rows as the caches take them: stored shape, plaintext, version. */
export async function committedItems(
  cache: SchemaCache,
  writes: readonly KeyedWrite[],
  sent: readonly (Row | undefined)[],
  outcomes: readonly WriteOutcome[],
): Promise<Versioned[]> {
  return Promise.all(
    writes.map(async (w, i) => {
      const outcome = outcomes[i]!;
      if (!outcome.row) return { key: w.key, version: outcome.version };
      const plain = await plainOf(cache, w.key, outcome.row, sent[i], w.row);
      return { key: w.key, version: outcome.version, stored: outcome.row, plain };
    }),
  );
}

/**
 * The plaintext of a stored row: the caller's plaintext for encrypted fields it sent, a decryption
 * of what Postgres kept for those it left out.
 */
async function plainOf(
  cache: SchemaCache,
  key: string,
  stored: Row,
  sent: Row | undefined,
  input: Row | undefined,
): Promise<Row> {
  const encrypted = cache.schema.encryptedKeys;
  if (encrypted.length === 0) return stored;
  const kept = encrypted.filter((k) => sent?.[k] === undefined || stored[k] !== sent[k]);
  const plain = kept.length > 0 ? await cache.rows.decryptRow(stored, key) : { ...stored };
  for (const k of encrypted) if (!kept.includes(k)) plain[k] = input?.[k] ?? null;
  return plain;
}

/** No L3: L2 is the source of truth, and Redis orders the writes. */
async function sourceL2(
  ctx: EngineContext,
  cache: SchemaCache,
  writes: readonly KeyedWrite[],
  encrypted: readonly (Row | undefined)[],
): Promise<WriteResult> {
  const ordered = writes.map((w, i) => ({
    key: w.key,
    ...(w.row && { stored: cache.rows.fromL2(cache.rows.toL2(encrypted[i]!)), plain: w.row }),
  }));
  const { versions, held } = (await writeOrdered(cache, ordered, { pendingFlush: false }))!;
  count(ctx, writes);
  return {
    rows: writes.flatMap((w) => (w.row ? [w.row] : [])),
    existed: held.filter((h, i) => h && !writes[i]!.row).length,
    versions,
  };
}

function count(ctx: EngineContext, writes: readonly KeyedWrite[]): void {
  for (const w of writes) {
    if (w.row) ctx.counters.sets += 1;
    else ctx.counters.deletes += 1;
  }
}
