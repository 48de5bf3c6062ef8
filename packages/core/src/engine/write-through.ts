import { isStrataError } from '../errors.js';
import { EpochMoved } from '../l3/epoch-moved.js';
import type { Row, Write, WriteOp, WriteOutcome } from '../l3/types.js';
import { withTimeout } from '../resilience/with-timeout.js';
import type { EngineContext } from './context.js';
import type { Id } from './ids.js';
import type { RefusedWrite } from './merge-refused.js';
import { writeOrdered } from './ordered-writes.js';
import type { SchemaCache, Versioned } from './schema-cache.js';
import { commitApplied, skippedWrites } from './skipped-writes.js';
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
  /**
   * Keys of `row`'s columns whose values are a queued new row's client defaults it carries (see
   * `Write.defaults`): an insert's alone, never laid over a row another write made (`overQueued`,
   * `overPending`). Absent: none.
   */
  readonly defaults?: readonly string[];
}

/** What a write did: the rows as stored (plaintext), and how many deleted keys held a row. */
export interface WriteResult {
  readonly rows: Row[];
  readonly existed: number;
  /** Per write, the version its key holds now (a skipped write's own): bus messages carry them. */
  readonly versions: number[];
  /** Sets Postgres skipped as older (see skipped-writes.ts): the caller merges them after publishing. */
  readonly refused?: RefusedWrite[];
  /** The write's own script published its bus messages (see `ScriptedBus`): nothing left to tell. */
  readonly told?: boolean;
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
    let sent: Sent = { writes, encrypted, replaced: new Set() };
    // The statement last sent: one that timed out still runs (see `LateWrite`).
    let inFlight: Promise<unknown> | undefined;
    // Before Postgres gives the versions: a reset after it leaves markers, not rows (see reset-since.ts).
    const since = cache.l2 && cache.resetsSeen();
    try {
      outcomes = await inOrder(ctx, cache, keys, partialAt(cache, writes), async (plan) => {
        sent = await asSent(cache, writes, encrypted, plan);
        const work = cache.l3!.write([throughOp(cache, sent, plan)]);
        inFlight = work;
        const [written = []] = await withTimeout(
          work,
          ctx.config.timeouts.l3,
          `L3 write (${cache.l3!.name})`,
        );
        return [written];
      }).then(([written]) => written!);
    } catch (err) {
      if (outcomeUnknown(err)) {
        await cache.drop(ctx, keys, 'all');
        // Timed out: the statement still runs and may commit after the drop above, once reads have
        // filled the old row again: its keys are dropped again when it settles (see `LateWrite`).
        late?.(keys, isStrataError(err, 'TIMEOUT') ? inFlight : undefined);
      }
      throw ctx.l3Error(cache.schema.name, writes.some((w) => w.row) ? 'set' : 'delete', err);
    }
    const items = await committedItems(cache, sent.writes, sent.encrypted, outcomes);
    await commitApplied(ctx, cache, items, outcomes, since || undefined);
    count(ctx, writes);
    const refused = skippedWrites(sent.writes, sent.encrypted, outcomes, sent.replaced);
    return {
      // Skipped as older (see skipped-writes.ts): a set says the row it sent, a delete that it
      // deleted (ordered before the write that outran it), as write-behind writes do.
      rows: items.flatMap((item, i): Row[] => {
        const row = item.plain ?? (outcomes[i]!.applied ? undefined : sent.writes[i]!.row);
        return row ? [row] : [];
      }),
      existed: outcomes.filter((o, i) => !writes[i]!.row && (o.existed || !o.applied)).length,
      versions: items.map((item) => item.version),
      ...(refused.length > 0 && { refused }),
    };
  } finally {
    cache.endWrite(keys);
  }
}

/**
 * Told of a write whose outcome is unknown (no SQLSTATE came back: a lost reply, a cut, a timeout),
 * after this instance dropped the keys' copies in its L1 and in L2: the caller tells every other
 * instance now, whose L1 may hold a row older than a COMMIT whose reply was lost (before, they
 * answered it until its TTL: reliability/test/regression-unknown-outcome-told.test.ts). With
 * `work` (the write timed out and its statement still runs, settling as it does), it drops `keys`
 * again, everywhere, once that settles. The drop at the timeout alone is not enough: a read between
 * it and a late COMMIT fills the old row back (Postgres still held it), and every tier then kept it
 * over the committed one until its TTL (reliability/test/probe-hostile-7.test.ts).
 */
export type LateWrite = (keys: readonly string[], work: Promise<unknown> | undefined) => void;

/** How many times a write-through write is sent again after Postgres found a later epoch. */
export const EPOCH_TRIES = 4;

/** One schema's part of a write made in its app's version order: its keys, and its sets leaving columns out. */
export interface OrderedKeys {
  /** A write-through schema's cache, with its `ThroughOrder`. */
  readonly cache: SchemaCache;
  readonly keys: readonly string[];
  /** `partialAt` of its writes. */
  readonly partial: readonly boolean[] | undefined;
}

/**
 * Runs `write` (an L3 write of `keys` of `cache`) in its app's version order: `inOrderAll` of one
 * schema. Without a `ThroughOrder` (no L2), as it is.
 */
export function inOrder<T>(
  ctx: EngineContext,
  cache: SchemaCache,
  keys: readonly string[],
  partial: readonly boolean[] | undefined,
  write: (plan: ThroughPlan | undefined) => Promise<T>,
): Promise<T> {
  return cache.through
    ? inOrderAll(ctx, [{ cache, keys, partial }], ([plan]) => write(plan))
    : write(undefined);
}

/**
 * Runs `write` (one L3 write, or transaction, of every part's keys) in their apps' version order
 * (see `ThroughOrder`): with the floors and the epoch guard each part's plan says (`plans[i]` for
 * `parts[i]`). When Postgres found a later epoch than one sent, every part that sent a guard asks
 * its counters again (any epoch known to be started serves), and the write is sent again.
 */
export async function inOrderAll<T>(
  ctx: EngineContext,
  parts: readonly OrderedKeys[],
  write: (plans: readonly ThroughPlan[]) => Promise<T>,
): Promise<T> {
  for (let tries = 1; ; tries++) {
    // Synchronous when no bucket touched has a counter: no turn of the microtask queue then.
    const made = parts.map((p) => p.cache.through!.plan(p.keys, p.partial));
    const plans = made.some((m) => m instanceof Promise) ? await Promise.all(made) : (made as ThroughPlan[]);
    try {
      const written = await write(plans);
      for (const plan of plans) await plan.marked;
      for (const [i, p] of parts.entries()) p.cache.through!.passed(plans[i]!);
      return written;
    } catch (err) {
      // Refused (nothing written): its marks on queued writes of its keys go (see superseded-marks.ts).
      if (refused(err))
        await Promise.all(
          parts.map((p, i) => {
            const { floors } = plans[i]!;
            return floors && unmarkSuperseded(ctx, p.cache, p.keys, floors);
          }),
        );
      if (!(err instanceof EpochMoved) || tries >= EPOCH_TRIES) throw err;
      const { epoch } = err;
      await Promise.all(parts.map((p, i) => plans[i]!.epoch !== undefined && p.cache.through!.moved(epoch)));
    }
  }
}

/** A write-through schema's writes as sent to L3 (see `asSent`). */
export interface Sent {
  readonly writes: readonly KeyedWrite[];
  readonly encrypted: readonly (Row | undefined)[];
  /** Keys whose set replaces the row (not merged over it in Postgres). */
  readonly replaced: ReadonlySet<string>;
}

/**
 * `writes` (their rows `encrypted`) as sent under `plan`: each partial set merged over its key's
 * queued write-behind writes (see `overPending`), the merged rows encrypted again. `replaced`: keys
 * already replacing their row (a transaction's set after its delete), left as they are.
 */
export async function asSent(
  cache: SchemaCache,
  writes: readonly KeyedWrite[],
  encrypted: readonly (Row | undefined)[],
  plan: ThroughPlan | undefined,
  replaced: ReadonlySet<string> = new Set(),
): Promise<Sent> {
  const over = plan?.peeked && (await overPending(cache, writes, plan, replaced));
  if (!over) return { writes, encrypted, replaced: new Set(replaced) };
  return {
    writes: over.writes,
    encrypted: await reencrypted(cache, over.writes, writes, encrypted),
    replaced: new Set([...replaced, ...over.replaced]),
  };
}

/**
 * The L3 op of `sent`: rows (replacing where `sent.replaced` says) and ids, with `versions` where
 * Redis ordered them (a write-behind schema in a transaction), else with the floors and the epoch
 * guard `plan` says.
 */
export function throughOp(
  cache: SchemaCache,
  sent: Sent,
  plan: ThroughPlan | undefined,
  versions?: readonly number[],
): WriteOp {
  return {
    schema: cache.schema,
    writes: sent.writes.map((w, i): Write => {
      const replace = sent.replaced.has(w.key);
      const write: Write = w.row
        ? {
            row: sent.encrypted[i]!,
            ...(replace && { replace: true }),
            ...(!replace && w.defaults?.length && { defaults: w.defaults }),
          }
        : { id: w.id };
      const version = versions?.[i];
      if (version !== undefined) return { ...write, version };
      const floor = plan?.floors?.[i];
      return floor === undefined ? write : { ...write, floor };
    }),
    ...(plan?.epoch !== undefined && { epoch: plan.epoch }),
  };
}

/** Whether a failed write is known to have written nothing: Postgres refused it (or its epoch guard did). */
export function refused(err: unknown): boolean {
  return err instanceof EpochMoved || !outcomeUnknown(err);
}

/** `merged`'s rows encrypted: those of `writes` (same keys, same order) as they were, the merged ones again. */
function reencrypted(
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
