import type { WriteQueue } from '../queue/types.js';
import { withTimeout } from '../resilience/with-timeout.js';

/**
 * Every write-queue call with a deadline (`timeouts.queue`): a queue whose server froze must fail a
 * write-behind `set` with QUEUE_UNAVAILABLE, not leave it (and `flushDirty`, and `close`) pending.
 * A timed-out `enqueue` may still land later; the caller was told it failed, and the versioned
 * flush keeps a late arrival from overwriting anything newer.
 */
export function timedQueue(queue: WriteQueue, timeoutMs: number): WriteQueue {
  const within = <T>(work: Promise<T>, op: string) =>
    withTimeout(work, timeoutMs, `queue ${op} (${queue.name})`);
  const { take } = queue;
  return {
    name: queue.name,
    enqueue: (writes) => within(queue.enqueue(writes), 'enqueue'),
    ...(take && { take: (max: number) => within(take.call(queue, max), 'take') }),
    ack: (handles) => within(queue.ack(handles), 'ack'),
    retry: (handles) => within(queue.retry(handles), 'retry'),
    deadLetter: (deliveries, reason) => within(queue.deadLetter(deliveries, reason), 'deadLetter'),
    pending: () => within(queue.pending(), 'pending'),
    // Closing waits for what the queue still holds in flight: bounded by the queue itself.
    close: () => queue.close(),
  };
}
