import { StrataError } from '../errors.js';
import type { WriteQueue } from '../queue/types.js';
import type { EngineContext } from './context.js';
import { type FlushOutcome, flushDeliveries, type Publish } from './flusher.js';
import type { SchemaCache } from './schema-cache.js';

const BATCH = 500;

/** What one round did: deliveries taken, done for good (acked or dead-lettered), held (L3 could not judge them), foreign. */
interface Round {
  taken: number;
  done: number;
  held: number;
  foreign: number;
}

/**
 * Drives a pull queue (memory, Redis Stream): take a batch, apply it, then ack / retry /
 * dead-letter each write. Rounds never overlap: a timer tick, the threshold and flushDirty share one.
 */
export class FlushLoop {
  #round: Promise<Round> | undefined;

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
   * held): the writes stay queued, nothing is dead-lettered for that.
   *
   * Only rounds that start after the call count: a round already running (a timer's) may have taken
   * its batch before the last writes were acknowledged, and if it took nothing, joining it would
   * return with those writes still queued.
   */
  async drain(): Promise<void> {
    // Its failure is its own caller's (the timer logs it); the rounds below meet any that lasts.
    await this.#round?.catch(() => undefined);
    for (;;) {
      const { taken, done, held, foreign } = await this.round();
      if (taken === foreign) return;
      if (done === 0 && held + foreign === taken) {
        throw new StrataError('L3_UNAVAILABLE', 'write-behind writes are waiting: L3 did not take them', {
          details: { waiting: taken },
        });
      }
    }
  }

  async #run(): Promise<Round> {
    const deliveries = await this.queue.take(BATCH);
    if (deliveries.length === 0) return { taken: 0, done: 0, held: 0, foreign: 0 };
    let outcome: FlushOutcome;
    try {
      outcome = await flushDeliveries(this.ctx, this.lookup, deliveries, this.publish);
      // Deliveries neither acked nor dead-lettered are handed out again (at least once): the versioned apply makes that harmless.
      await reportToQueue(this.queue, outcome);
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
    return {
      taken: deliveries.length,
      done: outcome.acked.length + outcome.dead.length,
      held: outcome.held.length,
      foreign: outcome.foreign.length,
    };
  }
}

/** Tells the queue what became of each delivery: ack, retry or dead-letter (by reason). */
async function reportToQueue(queue: WriteQueue, outcome: FlushOutcome): Promise<void> {
  if (outcome.acked.length > 0) await queue.ack(outcome.acked);
  if (outcome.retried.length > 0) await queue.retry(outcome.retried);
  const byReason = new Map<string, FlushOutcome['dead'][number]['delivery'][]>();
  for (const { delivery, reason } of outcome.dead)
    byReason.set(reason, [...(byReason.get(reason) ?? []), delivery]);
  for (const [reason, dead] of byReason) await queue.deadLetter(dead, reason);
}
