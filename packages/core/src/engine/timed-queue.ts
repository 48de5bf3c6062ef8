import { isStrataError, messageOf, StrataError } from '../errors.js';
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
          : // The cause's words too (ioredis' "Reached the max retries…", "timed out after 5000 ms"): "position
            // failed" alone told the reader nothing to act on.
            new StrataError(
              'QUEUE_UNAVAILABLE',
              `write queue ${queue.name}: ${op} failed: ${messageOf(err).replace('strata: ', '')}`,
              {
                cause: err,
                details: { queue: queue.name, op },
              },
            );
      if (failure.code === 'QUEUE_UNAVAILABLE') onFailure(failure);
      throw failure;
    }
  };
  const { colocated, position, heldUpTo, after } = queue;
  const timed: Pick<WriteQueue, 'colocated' | 'name' | 'after' | 'close'> = {
    ...(colocated && { colocated: timedColocated(colocated, within) }),
    name: queue.name,
    // No I/O: a comparison of two positions.
    ...(position && after && { after: (at: string, handle: string) => after.call(queue, at, handle) }),
    // Closing waits for what the queue still holds in flight: bounded by the queue itself.
    close: () => queue.close(),
  };
  // A position only serves with heldUpTo or after, heldUpTo only with a position.
  const ops = [
    'enqueue',
    'take',
    'ack',
    'retry',
    'deadLetter',
    'pending',
    ...(position && (heldUpTo || after) ? ['position' as const] : []),
    ...(position && heldUpTo ? ['heldUpTo' as const] : []),
  ] as const;
  for (const op of ops) {
    if (!queue[op]) continue;
    (timed as Record<string, unknown>)[op] = (...args: unknown[]) =>
      within(op, () => (queue[op] as (...args: unknown[]) => Promise<unknown>).apply(queue, args));
  }
  return timed as WriteQueue;
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
    ...(colocated.replicas !== undefined && { replicas: colocated.replicas }),
  };
}
