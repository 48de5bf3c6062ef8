import { StrataError } from '../errors.js';

/**
 * The error every operation but `close()` rejects with once a queue is closed: a write enqueued then
 * would wait for a flusher that is gone.
 */
export function queueClosedError(name: string): StrataError {
  return new StrataError('QUEUE_UNAVAILABLE', `write queue ${name} is closed`, { details: { queue: name } });
}

/** `take(max)` wants a whole number of deliveries; 0 is allowed and takes nothing. */
export function checkTakeMax(max: number): void {
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new StrataError('INVALID_CONFIG', `take(max): max must be a whole number >= 0, got ${max}`, {
      details: { max },
    });
  }
}
