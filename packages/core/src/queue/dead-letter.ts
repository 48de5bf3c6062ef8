import type { Delivery, QueuedWrite } from './types.js';

/** A write a queue gave up on, as its dead-letter store holds it. */
export interface DeadLetter {
  /** The handle it had in the queue (stream entry id, sequence number). */
  readonly handle: string;
  readonly write: QueuedWrite;
  /** Why: the flusher's reason, or what `maxAttempts` ran out on. */
  readonly reason: string;
  /**
   * The tries made, the last one counted: 1 = given up on its first delivery; a write the flusher
   * gave up on after `writeBehind.maxRetry` failures says `maxRetry` (see {@link triesMade}).
   */
  readonly attempts: number;
}

/**
 * An entry a durable queue found was no valid write (not JSON, failed validation), dead-lettered
 * as it was: only stores that read entries back from the wire (Redis Stream) hold these.
 */
export interface UnreadableDeadLetter {
  readonly handle: string;
  readonly write: null;
  /** The entry as it was stored. */
  readonly raw: string;
  /** `malformed: ` and what was wrong with it. */
  readonly reason: string;
  /** As {@link DeadLetter.attempts}: the deliveries made, this one counted (1 when found on the first). */
  readonly attempts: number;
}

/**
 * A dead letter's `attempts` for the delivery it gave up on: the tries made, that one counted.
 * `Delivery.attempts` counts the deliveries before it, so a write refused on each of its
 * `maxRetry` = 3 deliveries is dead-lettered on the one with `attempts` 2, and says 3 (it said 2
 * until packages/core/test/regression-dead-letter-attempts.test.ts). Every queue's `deadLetter`,
 * the Workers consumer, `WRITE_BEHIND_MAX_RETRY`'s details and the flusher's log use it.
 * @example triesMade({ attempts: 0 }); // 1: given up on its first delivery
 */
export function triesMade(delivery: Pick<Delivery, 'attempts'>): number {
  return delivery.attempts + 1;
}
