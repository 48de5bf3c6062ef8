import type { FlushLoop } from '../engine/flush-loop.js';
import type { Delivery, WriteQueue } from './types.js';

/** A write queue the flusher pulls batches from (memory, Redis Stream), as opposed to a push queue. */
export interface PullWriteQueue extends WriteQueue {
  /**
   * Up to `max` deliveries, oldest first, marked in flight: no other `take` gets them until they are
   * retried (or, where the queue is shared, until their holder is presumed dead).
   */
  take(max: number): Promise<Delivery[]>;
  /** What drives it in each instance: `FlushLoop` (see `WriteQueue.flushLoop`). */
  readonly flushLoop: typeof FlushLoop;
}
