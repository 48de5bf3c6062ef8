import type { QueuedWrite } from './types.js';

/** A write a queue gave up on, as its dead-letter store holds it. */
export interface DeadLetter {
  /** The handle it had in the queue (stream entry id, sequence number). */
  readonly handle: string;
  readonly write: QueuedWrite;
  /** Why: the flusher's reason, or what `maxAttempts` ran out on. */
  readonly reason: string;
  /** As on its last delivery: deliveries before that one (0 = given up after the first). */
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
  readonly attempts: number;
}
