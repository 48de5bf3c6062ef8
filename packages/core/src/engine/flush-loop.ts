import { StrataError } from '../errors.js';
import type { WriteQueue } from '../queue/types.js';
import { wait } from '../resilience/wait.js';
import type { EngineContext } from './context.js';
import { type FlushOutcome, flushDeliveries, ownCache, type Publish } from './flusher.js';
import type { SchemaCache } from './schema-cache.js';
import { withdrawalsSent } from './withdrawals-sent.js';

const BATCH = 500;
/** How often `drain({ held: true })` asks whether another consumer is done with this app's writes. */
const HELD_POLL_MS = 25;

/**
 * What one round did: deliveries taken, done for good (acked or dead-lettered), held (L3 could not
 * judge them, or L2 did not withdraw a dead letter's copy: `withdrawing`), foreign.
 */
interface Round {
  taken: number;
  done: number;
  held: number;
  withdrawing: number;
  foreign: number;
  /** The handles of the deliveries of this app (all but the foreign ones). */
  mine: readonly string[];
}

/**
 * Drives a pull queue (memory, Redis Stream): take a batch, apply it, then ack / retry /
 * dead-letter each write. Rounds never overlap: a timer tick, the threshold and flushDirty share one.
 */
export class FlushLoop {
  #round: Promise<Round> | undefined;
  #stopped = false;

  constructor(
    readonly ctx: EngineContext,
    readonly queue: WriteQueue & Required<Pick<WriteQueue, 'take'>>,
    readonly lookup: (identity: string) => SchemaCache | undefined,
    readonly publish: Publish,
  ) {}

  round(): Promise<Round> {
    this.#round ??= this.#run().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  /**
   * Rounds until the queue hands out nothing more of this app's. A write Postgres refuses is tried
   * again at once, round after round, until it lands or is dead-lettered. Writes of schemas no
   * instance here knows (another app on a shared queue) are left to their app. Throws L3_UNAVAILABLE
   * when a round could change nothing (L3 down or not ready: every write of this app it took was
   * held): the writes stay queued, nothing is dead-lettered for that; L2_UNAVAILABLE when every
   * one held was a dead letter whose cached copy L2 did not withdraw (see `FlushOutcome.withdrawing`).
   *
   * Only rounds that start after the call count: a round already running (a timer's) may have taken
   * its batch before the last writes were acknowledged, and if it took nothing, joining it would
   * return with those writes still queued.
   *
   * With a queue that can place its deliveries (`position` and `after`), the rounds stop at the
   * call's position: once a round hands out no write of this app enqueued up to it, newer writes
   * (other instances keep writing) are left to later rounds; a round may still apply some of them.
   * Without it, a steady stream of new writes would keep every round busy and the drain running.
   *
   * With `held`, and a queue that can say so (`heldUpTo`), it then waits for this app's writes that
   * another consumer took before the call (another instance mid-flush) to be done: polled, and bounded
   * by the queue's claim timeout, after which a round here takes over a dead consumer's writes, or
   * until the instance closes (`stop`).
   */
  async drain({ held = false }: { held?: boolean } = {}): Promise<void> {
    const { position, heldUpTo, after } = this.queue;
    const waitHeld = held && heldUpTo !== undefined;
    const at = position && (waitHeld || after) ? await position.call(this.queue) : undefined;
    await this.#rounds(at);
    if (at === undefined || !waitHeld) return;
    try {
      while (!this.#stopped && (await this.#heldElsewhere(at))) {
        await wait(this.ctx, HELD_POLL_MS);
        if (!this.#stopped) await this.#rounds(at);
      }
    } catch (err) {
      // Closed meanwhile (its queue with it): what others hold they apply; this instance's part is done.
      if (!this.#stopped) throw err;
    }
  }

  /** The instance is closing: a drain waiting for other consumers' writes returns (see `drain`). */
  stop(): void {
    this.#stopped = true;
  }

  /** Rounds until one takes nothing of this app enqueued up to `at` (anything of it, without `at`). */
  async #rounds(at: string | undefined): Promise<void> {
    // Its failure is its own caller's (the timer logs it); the rounds below meet any that lasts.
    await this.#round?.catch(() => undefined);
    const { after } = this.queue;
    const early = (handle: string) => at === undefined || after?.call(this.queue, at, handle) !== true;
    for (;;) {
      const { taken, done, held, withdrawing, foreign, mine } = await this.round();
      // The take hands out what it can up to `at` before anything after it (see `WriteQueue.after`):
      // a round with none of this app's up to `at` leaves none behind for this consumer.
      if (!mine.some(early)) return;
      if (done === 0 && held + foreign === taken) {
        if (held > 0 && withdrawing === held)
          throw new StrataError(
            'L2_UNAVAILABLE',
            'write-behind writes are waiting: L2 did not withdraw the cached copies of their dead letters',
            { details: { waiting: taken } },
          );
        throw new StrataError('L3_UNAVAILABLE', 'write-behind writes are waiting: L3 did not take them', {
          details: { waiting: taken },
        });
      }
    }
  }

  /** Whether another consumer holds a write of this app's schemas enqueued up to `at`. */
  async #heldElsewhere(at: string): Promise<boolean> {
    const writes = await this.queue.heldUpTo!(at, BATCH);
    return writes.some((write) => ownCache(this.ctx, this.lookup, write)?.l3 !== undefined);
  }

  async #run(): Promise<Round> {
    // Every round, idle ones too: an app whose instances only flush keeps its write-behind claims.
    this.ctx.claims.keep();
    const deliveries = await this.queue.take(BATCH);
    if (deliveries.length === 0) return { taken: 0, done: 0, held: 0, withdrawing: 0, foreign: 0, mine: [] };
    let outcome: FlushOutcome;
    try {
      outcome = await flushDeliveries(this.ctx, this.lookup, deliveries, this.publish);
      // Deliveries neither acked nor dead-lettered are handed out again (at least once): the versioned apply makes that harmless.
      // Dead letters the store took: their withdrawals may be cleaned up (see withdrawals-sent.ts).
      await reportToQueue(this.queue, outcome, (dead) =>
        withdrawalsSent(
          this.ctx,
          this.lookup,
          dead.flatMap((d) => (d.withdrawn ? [d.delivery.write] : [])),
        ),
      );
    } catch (err) {
      // Let go of the batch, or the queue would keep it for a caller that no longer has it (the
      // Redis Stream queue until its claim timeout): the next round takes it again.
      await this.queue.retry(deliveries.map((d) => d.handle)).catch((released: unknown) => {
        this.ctx.counters.error('flush');
        this.ctx.config.logger.warn('write-behind flush: the failed batch was not released', {
          error: String(released),
        });
      });
      throw err;
    }
    const c = this.ctx.counters;
    c.flushed += outcome.acked.length;
    c.retried += outcome.retried.length;
    c.deadLettered += outcome.dead.length;
    const foreign = new Set(outcome.foreign);
    return {
      taken: deliveries.length,
      done: outcome.acked.length + outcome.dead.length,
      held: outcome.held.length,
      withdrawing: outcome.withdrawing.length,
      foreign: outcome.foreign.length,
      mine: deliveries.flatMap((d) => (foreign.has(d.handle) ? [] : [d.handle])),
    };
  }
}

/**
 * Tells the queue what became of each delivery: ack, retry or dead-letter (by reason); `sent` gets
 * each reason's dead letters once the queue took them.
 */
async function reportToQueue(
  queue: WriteQueue,
  outcome: FlushOutcome,
  sent: (dead: FlushOutcome['dead']) => Promise<void>,
): Promise<void> {
  if (outcome.acked.length > 0) await queue.ack(outcome.acked);
  if (outcome.retried.length > 0) await queue.retry(outcome.retried);
  const byReason = new Map<string, FlushOutcome['dead']>();
  for (const dead of outcome.dead) byReason.set(dead.reason, [...(byReason.get(dead.reason) ?? []), dead]);
  for (const [reason, dead] of byReason) {
    await queue.deadLetter(
      dead.map((d) => d.delivery),
      reason,
    );
    await sent(dead);
  }
}
