import { isStrataError, StrataError } from '../errors.js';
import type { ColocatedQueue, WriteQueue } from '../queue/types.js';
import { withTimeout } from '../resilience/with-timeout.js';

/**
 * Every write-queue call with a deadline (`timeouts.queue`), and its failures in one shape: a queue
 * that is down or past the deadline is `QUEUE_UNAVAILABLE` (the cause kept), counted through
 * `onFailure`; what a queue says about its input (VALIDATION_FAILED, INVALID_CONFIG) passes as it is.
 * A frozen queue server so fails a write-behind `set`, `flushDirty` and `close` instead of leaving
 * them pending. A timed-out `enqueue` may still land later; the caller was told it failed, and the
 * versioned flush keeps a late arrival from overwriting anything newer.
 */
export function timedQueue(
  queue: WriteQueue,
  timeoutMs: number,
  onFailure: (err: StrataError) => void,
): WriteQueue {
  const within = async <T>(op: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await withTimeout(work(), timeoutMs, `queue ${op} (${queue.name})`);
    } catch (err) {
      const failure =
        isStrataError(err) && err.code !== 'TIMEOUT'
          ? err
          : new StrataError('QUEUE_UNAVAILABLE', `write queue ${queue.name}: ${op} failed`, {
              cause: err,
              details: { queue: queue.name, op },
            });
      if (failure.code === 'QUEUE_UNAVAILABLE') onFailure(failure);
      throw failure;
    }
  };
  const { take, colocated, position, heldUpTo, after } = queue;
  return {
    ...(colocated && { colocated: timedColocated(colocated, within) }),
    name: queue.name,
    enqueue: (writes) => within('enqueue', () => queue.enqueue(writes)),
    ...(take && { take: (max: number) => within('take', () => take.call(queue, max)) }),
    ack: (handles) => within('ack', () => queue.ack(handles)),
    retry: (handles) => within('retry', () => queue.retry(handles)),
    deadLetter: (deliveries, reason) => within('deadLetter', () => queue.deadLetter(deliveries, reason)),
    pending: () => within('pending', () => queue.pending()),
    ...(position &&
      (heldUpTo || after) && { position: () => within('position', () => position.call(queue)) }),
    ...(position &&
      heldUpTo && {
        heldUpTo: (at: string, max: number) => within('heldUpTo', () => heldUpTo.call(queue, at, max)),
      }),
    // No I/O: a comparison of two positions.
    ...(position && after && { after: (at: string, handle: string) => after.call(queue, at, handle) }),
    // Closing waits for what the queue still holds in flight: bounded by the queue itself.
    close: () => queue.close(),
  };
}

/**
 * The scripted side of a queue with the same deadline. `ready` is timed until it has answered once:
 * after that the queue answers from what it remembers, and a timer per write-behind `set` would be
 * pure cost.
 */
function timedColocated(
  colocated: ColocatedQueue,
  within: <T>(op: string, work: () => Promise<T>) => Promise<T>,
): ColocatedQueue {
  let answered = false;
  return {
    stream: colocated.stream,
    ...(colocated.streams && { streams: colocated.streams }),
    field: colocated.field,
    ready: () =>
      answered
        ? colocated.ready()
        : within('ready', () => colocated.ready() ?? Promise.resolve()).then(() => {
            answered = true;
          }),
    mark: () => within('mark', () => colocated.mark()),
  };
}
