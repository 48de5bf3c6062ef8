import { FlushLoop } from '../engine/flush-loop.js';
import { StrataError } from '../errors.js';
import { type DeadLetter, triesMade } from './dead-letter.js';
import type { PullWriteQueue } from './pull-queue.js';
import { checkTakeMax, queueClosedError } from './queue-errors.js';
import { parseQueuedWrites } from './queued-write-schema.js';
import type { Delivery, QueuedWrite } from './types.js';

interface MemoryQueueOptions {
  /** Shown in logs and errors. Default 'memory'. */
  name?: string;
  /**
   * Deliveries of one write before `retry` dead-letters it on its own (reason `max attempts (n)`).
   * Default: no limit, the flusher decides when to call `deadLetter` (the engine's
   * `writeBehind.maxRetry`). Set it as a backstop for a flusher that only ever retries.
   */
  maxAttempts?: number;
  /** Dead letters kept for inspection; the oldest are dropped past this. Default 10,000. */
  maxDeadLetters?: number;
}

/** The in-process queue, with its dead-letter store open to inspection. */
export interface MemoryQueue extends PullWriteQueue {
  /** What `deadLetter` (or `maxAttempts`) gave up on, oldest first. A copy. */
  deadLetters(): DeadLetter[];
}

/**
 * An in-process buffer of dirty rows, as in the Go library Strata, shaped as a write queue: FIFO,
 * `take` hands out batches and marks them in flight until `ack`, `retry` or `deadLetter`.
 *
 * **Not durable.** Everything it holds lives in this process's memory: a crash, a deploy or an
 * isolate eviction loses every write enqueued and not yet flushed, although `enqueue` had already
 * acknowledged them. That is the write-behind durability of the Go library Strata ("L3 durable
 * within the flush interval"); where a lost write matters, use the Redis Stream queue
 * (adapter-node) or Cloudflare Queues (adapter-workers) instead.
 *
 * A retried write goes back to the **front**, in its enqueue order among the others waiting, so this
 * queue never reorders: the next `take` hands it out again before anything enqueued after it (as the
 * Redis Stream queue does, reclaiming before reading new entries).
 *
 * @example
 * const queue = createMemoryQueue({ maxAttempts: 6 });
 * await queue.enqueue([{ schema: 'scores', id: 'p1', op: 'set', row: '{"id":"p1","level":5}', version: 3 }]);
 * const batch = await queue.take(100); // [{ handle: '1', write: {…}, attempts: 0 }]
 * await queue.ack(batch.map((d) => d.handle));
 * await queue.pending(); // 0
 */
export function createMemoryQueue(options: MemoryQueueOptions = {}): MemoryQueue {
  const { name = 'memory', maxAttempts = Number.POSITIVE_INFINITY, maxDeadLetters = 10_000 } = options;
  if (
    !(maxAttempts >= 1) ||
    (maxAttempts !== Number.POSITIVE_INFINITY && !Number.isSafeInteger(maxAttempts))
  ) {
    throw new StrataError('INVALID_CONFIG', `memory queue: maxAttempts must be a whole number >= 1`, {
      details: { field: 'maxAttempts' },
    });
  }
  if (!Number.isSafeInteger(maxDeadLetters) || maxDeadLetters < 0) {
    throw new StrataError('INVALID_CONFIG', `memory queue: maxDeadLetters must be a whole number >= 0`, {
      details: { field: 'maxDeadLetters' },
    });
  }
  return new InMemoryQueue(name, maxAttempts, maxDeadLetters);
}

/** A position or handle of this queue: an enqueue sequence number. */
const SEQ = /^\d+$/;

interface Held {
  readonly seq: number;
  readonly handle: string;
  readonly write: QueuedWrite;
  attempts: number;
  inFlight: boolean;
}

class InMemoryQueue implements MemoryQueue {
  readonly name: string;
  readonly flushLoop = FlushLoop;
  readonly #maxAttempts: number;
  readonly #maxDeadLetters: number;
  /** Every write enqueued and not yet acked or dead-lettered, by handle. */
  readonly #held = new Map<string, Held>();
  /** The ones waiting for a `take`, by seq. May hold stale entries (acked while waiting): skipped. */
  #waiting: Held[] = [];
  readonly #dead: DeadLetter[] = [];
  #seq = 0;
  #closed = false;

  constructor(name: string, maxAttempts: number, maxDeadLetters: number) {
    this.name = name;
    this.#maxAttempts = maxAttempts;
    this.#maxDeadLetters = maxDeadLetters;
  }

  async enqueue(writes: readonly QueuedWrite[]): Promise<void> {
    this.#checkOpen();
    // All checked before any is held: a bad write enqueues none of its batch.
    for (const write of parseQueuedWrites(writes)) {
      this.#seq += 1;
      const held: Held = { seq: this.#seq, handle: String(this.#seq), write, attempts: 0, inFlight: false };
      this.#held.set(held.handle, held);
      this.#waiting.push(held);
    }
  }

  async take(max: number): Promise<Delivery[]> {
    this.#checkOpen();
    checkTakeMax(max);
    const batch: Delivery[] = [];
    let used = 0;
    for (const held of this.#waiting) {
      if (batch.length >= max) break;
      used += 1;
      if (this.#held.get(held.handle) !== held || held.inFlight) continue;
      held.inFlight = true;
      batch.push({ handle: held.handle, write: held.write, attempts: held.attempts });
    }
    this.#waiting.splice(0, used);
    return batch;
  }

  async ack(handles: readonly string[]): Promise<void> {
    this.#checkOpen();
    for (const handle of handles) this.#held.delete(handle);
  }

  async retry(handles: readonly string[]): Promise<void> {
    this.#checkOpen();
    const back: Held[] = [];
    for (const handle of handles) {
      const held = this.#held.get(handle);
      if (held === undefined || !held.inFlight) continue;
      held.inFlight = false;
      // The deliveries made, this failed one counted (what a dead letter records as `attempts`).
      held.attempts += 1;
      if (held.attempts >= this.#maxAttempts) {
        this.#bury(held, `max attempts (${this.#maxAttempts})`, held.attempts);
      } else {
        back.push(held);
      }
    }
    if (back.length > 0) this.#waiting = mergeBySeq(back, this.#waiting);
  }

  async deadLetter(deliveries: readonly Delivery[], reason: string): Promise<void> {
    this.#checkOpen();
    for (const delivery of deliveries) {
      const held = this.#held.get(delivery.handle);
      // Already acked or dead-lettered: nothing left to move.
      if (held !== undefined) this.#bury(held, reason, triesMade(delivery));
    }
  }

  async pending(): Promise<number> {
    this.#checkOpen();
    return this.#held.size;
  }

  async position(): Promise<string> {
    this.#checkOpen();
    return String(this.#seq);
  }

  /** In flight = taken by a flusher (this queue may be shared by several instances in one process). */
  async heldUpTo(position: string, max: number): Promise<QueuedWrite[]> {
    this.#checkOpen();
    const last = Number(position);
    const held: QueuedWrite[] = [];
    for (const each of this.#held.values()) {
      if (held.length >= max) break;
      if (each.inFlight && each.seq <= last) held.push(each.write);
    }
    return held;
  }

  /**
   * Handles and positions are enqueue sequence numbers; `take` hands them out in that order (a
   * retried one back in its place).
   */
  after(position: string, handle: string): boolean {
    if (!SEQ.test(position)) {
      throw new StrataError(
        'INVALID_CONFIG',
        `after: ${JSON.stringify(position)} is not a memory queue position`,
        {
          details: { position },
        },
      );
    }
    return SEQ.test(handle) && Number(handle) > Number(position);
  }

  deadLetters(): DeadLetter[] {
    return [...this.#dead];
  }

  /** Forgets what it holds (it was never durable). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#held.clear();
    this.#waiting = [];
  }

  #bury(held: Held, reason: string, attempts: number): void {
    this.#held.delete(held.handle);
    this.#dead.push({ handle: held.handle, write: held.write, reason, attempts });
    if (this.#dead.length > this.#maxDeadLetters)
      this.#dead.splice(0, this.#dead.length - this.#maxDeadLetters);
  }

  #checkOpen(): void {
    if (this.#closed) throw queueClosedError(this.name);
  }
}

/** Both lists sorted by seq; `back` holds no entry of `waiting`. */
function mergeBySeq(back: Held[], waiting: readonly Held[]): Held[] {
  back.sort((a, b) => a.seq - b.seq);
  const merged: Held[] = [];
  let i = 0;
  for (const held of waiting) {
    while (i < back.length && back[i]!.seq < held.seq) merged.push(back[i++]!);
    merged.push(held);
  }
  while (i < back.length) merged.push(back[i++]!);
  return merged;
}
