import { isStrataError, StrataError } from '../errors.js';
import type { L2Tier } from '../l2/types.js';
import type { Row } from '../l3/types.js';
import type { WriteQueue } from '../queue/types.js';
import type { Coherence } from './coherence.js';
import { commitWrites } from './commit-tx.js';
import type { EngineContext } from './context.js';
import type { FlushLoop } from './flush-loop.js';
import type { Publish } from './flusher.js';
import { GroupCommit } from './group-commit.js';
import type { Id } from './ids.js';
import { idKey } from './ids.js';
import type { Turn } from './key-order.js';
import { LateWatch } from './late-watch.js';
import { OtherShapesLive } from './live-shapes.js';
import type { RefusedWrite } from './merge-refused.js';
import { mergeSkipped } from './merge-refused.js';
import type { PreparedRow } from './prepare.js';
import { QueueColocation } from './queue-colocation.js';
import type { SchemaCache } from './schema-cache.js';
import { writeBehind } from './write-behind.js';
import { type KeyedWrite, type WriteResult, writeThrough } from './write-through.js';

/** One write-behind write as its batch wrote it: its version, and the row as stored for a set. */
interface Written {
  readonly version: number;
  readonly row?: Row;
}

/** A write-behind batch as written: by `writeBehind`, or through Postgres (`#writeThroughInstead`). */
interface BehindOrThrough {
  readonly rows: Row[];
  readonly versions: number[];
  readonly refused?: readonly RefusedWrite[];
  readonly told?: boolean;
}

/** Writes per write-behind batch at most (one L2 script, its arguments and queue entries). */
const BATCH_WRITES = 256;

/**
 * The failures of a write-behind batch that say nothing about one caller's rows: every caller in it
 * gets them. Any other (a row the queue refuses, one that cannot be encoded) and the batch is
 * written again call by call, so no caller fails for another's row.
 */
const SHARED_FAILURES = new Set([
  'L2_UNAVAILABLE',
  'L3_UNAVAILABLE',
  'QUEUE_UNAVAILABLE',
  'UNAVAILABLE',
  'TIMEOUT',
]);

/**
 * Routes writes by the schema's write mode, tells the other instances (with each key's version), and
 * starts a flush when this instance has `writeBehind.threshold` writes waiting. Refuses writes
 * once closing, and lets `close` wait for those running.
 *
 * Write-behind writes of one schema go by group commit (`GroupCommit`): those made while one of its
 * batches is out leave together as the next, one L2 script and one bus message for all of them,
 * in call order (two writes of one key in a batch take increasing versions: the later wins).
 */
export class Writer {
  /** Writes running (see `#track`), and what `close` waits on once they are all done. */
  #running = 0;
  #idle: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  readonly #colocation: QueueColocation | undefined;
  readonly #batches = new Map<SchemaCache, GroupCommit<KeyedWrite, Written>>();
  readonly #late = new LateWatch();
  #closing = false;

  constructor(
    readonly ctx: EngineContext,
    readonly coherence: Coherence,
    readonly queue: WriteQueue | undefined,
    readonly flushLoop: FlushLoop | undefined,
    l2: L2Tier | undefined,
  ) {
    this.#colocation = queue && new QueueColocation(ctx, queue, l2);
  }

  /** `turn`: the call's place in its keys' order, let go once the write's own order is fixed. */
  async set(cache: SchemaCache, prepared: readonly PreparedRow[], turn?: Turn): Promise<Row[]> {
    if (this.#closing) throw closing();
    const writes = prepared.map((p) => ({ key: p.key, id: p.id, row: p.row }));
    return (await this.#track(this.#write(cache, writes, 'set', turn))).rows;
  }

  async delete(cache: SchemaCache, ids: readonly Id[], turn?: Turn): Promise<number> {
    if (this.#closing) throw closing();
    const writes = ids.map((id) => ({ key: idKey(id), id }));
    return (await this.#track(this.#write(cache, writes, 'delete', turn))).existed;
  }

  /**
   * Refuses new writes, then waits for those already running: after this resolves, nothing can be
   * acknowledged that a final flush would miss.
   */
  async close(): Promise<void> {
    this.#closing = true;
    // One promise for every `close` call: each waits for the same last write.
    if (this.#running > 0) {
      this.#idle ??= new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      await this.#idle;
    }
    // Timed-out statements still unsettled are not waited for: their keys go (and are told) now.
    this.#late.release();
  }

  /**
   * Counts `running` (a write started once `#closing` was checked) until it settles: a count and
   * one shared callback rather than a set of promises and a closure per write.
   */
  #track<T>(running: Promise<T>): Promise<T> {
    this.#running += 1;
    running.then(this.#settled, this.#settled);
    return running;
  }

  readonly #settled = (): void => {
    this.#running -= 1;
    if (this.#running === 0) this.#wake?.();
  };

  async #write(
    cache: SchemaCache,
    writes: readonly KeyedWrite[],
    op: 'set' | 'delete',
    turn: Turn | undefined,
  ): Promise<WriteResult> {
    // Before anything is written: which database this is, or the keyPrefix claim cannot be checked
    // (see `L3Claim.beforeWrite`; known once per instance, no wait after that), and another app
    // may hold the table (see `WriterClaims`).
    const identity = cache.generation?.claim?.beforeWrite();
    if (identity) await identity;
    const claiming = this.ctx.claims.before(cache);
    if (claiming) await claiming;
    // Awaited: an async function that returns a promise settles two microtask turns after it.
    if (cache.writeMode === 'write-behind') return await this.#behind(cache, writes, turn);
    const result = await writeThrough(this.ctx, cache, writes, (keys, work) =>
      this.afterLateWrite([{ cache, keys }], work),
    );
    await this.coherence.publish(
      cache,
      writes.map((w) => w.key),
      result.versions,
      op,
    );
    // Outrun by a newer write of the key (see skipped-writes.ts): its columns no later write set.
    if (result.refused)
      await mergeSkipped(this.ctx, cache, result.refused, this.#publish, "a write-through write's");
    this.#maybeFlush();
    return result;
  }

  /**
   * A write (write-through, or a transaction) whose outcome is unknown: told to every instance now;
   * one that timed out, once its statements settled later, committed or not: its keys' cached
   * copies go again, here and on every instance, off the caller's path (see `LateWrite`). A pending
   * write-behind row stays: it is newer than Postgres, whatever committed. Once the instance
   * closes it stops waiting (see `LateWatch`): the keys go at once, one last time; a statement
   * that commits after that is past what this instance can tell (semantics.md, "Faults").
   */
  afterLateWrite(
    dropped: readonly { cache: SchemaCache; keys: readonly string[] }[],
    work: Promise<unknown> | undefined,
  ): void {
    // Told now: this instance dropped its copies; the others' L1 may hold rows older than Postgres'.
    for (const { cache, keys } of dropped)
      this.ctx.detach(
        cache.schema.name,
        'l2',
        'tell an unknown outcome',
        this.coherence.publish(cache, keys, null, 'invalidate'),
      );
    if (!work) return;
    // Its failure was its caller's (the timeout); only its end matters here.
    const settled = this.#late.settledOrReleased(work);
    for (const { cache, keys } of dropped) {
      this.ctx.detach(
        cache.schema.name,
        'l2',
        'drop after a late write',
        settled.then(async () => {
          await cache.drop(this.ctx, keys, 'unlessPending');
          await this.coherence.publish(cache, keys, null, 'invalidate');
        }),
      );
    }
  }

  /**
   * A write-behind write, in its schema's next batch. It counts as in flight from now (searches do
   * not fill meanwhile; loads of its keys already out are not joined), not from when its batch leaves.
   */
  async #behind(cache: SchemaCache, writes: readonly KeyedWrite[], turn?: Turn): Promise<WriteResult> {
    let batches = this.#batches.get(cache);
    if (!batches) {
      batches = new GroupCommit(
        (batch) => this.#writeBehind(cache, batch),
        BATCH_WRITES,
        (err) => !(isStrataError(err) && SHARED_FAILURES.has(err.code)),
      );
      this.#batches.set(cache, batches);
    }
    const keys = writes.map((w) => w.key);
    cache.beginWrite(keys);
    try {
      const submitted = batches.submit(writes);
      // Its batch holds it now, in call order: the next batched write of its keys takes a later place.
      turn?.admit();
      const written = await submitted;
      const rows: Row[] = [];
      const versions = new Array<number>(written.length);
      for (let i = 0; i < written.length; i++) {
        const w = written[i]!;
        if (w.row) rows.push(w.row);
        versions[i] = w.version;
      }
      // Write-behind cannot know yet whether the rows existed: it reports what it was asked to delete.
      return { rows, existed: written.length - rows.length, versions };
    } finally {
      cache.endWrite(keys);
    }
  }

  /**
   * One write-behind batch: written, enqueued, told to the other instances (one message per op).
   * While another shape of its table is live (a rolling deploy), its instances could not read a
   * pending row of this shape (their key holds a marker, Postgres has not got it yet): the batch
   * commits to Postgres as a transaction instead, its versions still from Redis among the writes
   * already queued (see `commitWrites`).
   */
  async #writeBehind(cache: SchemaCache, writes: readonly KeyedWrite[]): Promise<Written[]> {
    // No other shape live (the usual case): `writeBehind` awaited here, no async frame between.
    let result: BehindOrThrough | undefined;
    if (!cache.generation?.shapes.others.length) {
      try {
        result = await writeBehind(this.ctx, cache, this.queue!, this.#colocation!, writes, this.#publish);
      } catch (err) {
        if (!(err instanceof OtherShapesLive)) throw err;
      }
    }
    const { rows, versions, refused, told } = result ?? (await this.#writeThroughInstead(cache, writes));
    // One message per op (a batch of sets only, the usual one, sends one; an empty list sends none).
    // No bus, nothing to tell: no call (and no turn of the microtask queue) per op. Told by the
    // script itself (a bus on the L2's Redis): only what earlier publishes could not send goes now.
    if (told) this.coherence.resendUnsent();
    else if (this.ctx.config.coherence.bus)
      for (const op of ['set', 'delete'] as const) {
        const at = writes.flatMap((w, i) => (!!w.row === (op === 'set') ? [i] : []));
        await this.coherence.publish(
          cache,
          at.map((i) => writes[i]!.key),
          at.map((i) => versions[i]!),
          op,
        );
      }
    // Committed through Postgres, a set it skipped as older (a later write of the key landed first):
    // its columns no later write set, as a transaction's (probe-marks-skipped-shapes.test.ts).
    if (refused) await mergeSkipped(this.ctx, cache, refused, this.#publish, "a write-behind batch's");
    this.#maybeFlush();
    let r = 0;
    return writes.map((w, i) =>
      w.row ? { version: versions[i]!, row: rows[r++]! } : { version: versions[i]! },
    );
  }

  /** A write-behind batch committed to Postgres as a transaction (another shape of its table is live). */
  async #writeThroughInstead(cache: SchemaCache, writes: readonly KeyedWrite[]): Promise<BehindOrThrough> {
    const written = await commitWrites(this.ctx, cache, writes, this.ctx.config.timeouts.l3);
    const at = new Map(written.keys.map((key, i) => [key, i]));
    return {
      rows: writes.flatMap((w) => (w.row ? [written.rowOf.get(w.key) ?? w.row] : [])),
      versions: writes.map((w) => written.versions[at.get(w.key)!]!),
      ...(written.refused && { refused: written.refused }),
    };
  }

  /**
   * Writes this instance enqueued and its flusher has not applied yet (DirtyCount in the Go library
   * Strata). 0 with a push queue (Cloudflare Queues): another invocation flushes what this one
   * enqueued, so the count could only grow; `queueDepth()` is the backlog there.
   */
  get dirty(): number {
    if (!this.flushLoop) return 0;
    const c = this.ctx.counters;
    return Math.max(0, c.enqueued - c.flushed - c.deadLettered);
  }

  readonly #publish: Publish = (cache, keys, versions, op) =>
    this.coherence.publish(cache, keys, versions, op);

  #maybeFlush(): void {
    if (!this.flushLoop || this.dirty < this.ctx.config.writeBehind.threshold) return;
    const round = this.flushLoop.round().catch((err: unknown) => {
      this.ctx.counters.error('flush');
      this.ctx.config.logger.warn('write-behind flush failed', { error: String(err) });
    });
    this.ctx.track(round);
  }
}

/** Why a write is refused once `close` began: a final flush could miss anything acknowledged now. */
function closing(): StrataError {
  return new StrataError('UNAVAILABLE', 'this Strata instance is closing: it takes no more writes');
}
