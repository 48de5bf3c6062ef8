import type { Waits } from './wait.js';
import { orAfter } from './with-timeout.js';

/** What `orAfter` resolves to when the shared work ran out its time (never a value of it). */
const LATE: unique symbol = Symbol('late');

/**
 * Work another call began at `since` (read on `waits.now`) and this one shares: waited for on THIS
 * caller's own timer (`waits.timer`: the host's, see `hostWaits`), at most until `ms` after it
 * began; past that (or already past), `again()` (ask again, or give up). Settles like `shared` when
 * it settles in time, rejection included.
 *
 * Why: in a Worker the call that began it may belong to a request that has ended. workerd cancels
 * that request's fetches (a cancelled fetch never settles) and drops its timers (its own deadline
 * never fires): shared without a bound of the caller's, it would hold every later request of the
 * isolate. A share that is only slow costs one more call, no more.
 *
 * @example
 * // a generation read out since `sentAt`: shared for an L2 call's deadline, then read again
 * return waitShared(this.#value, this.#sentAt, l2TimeoutMs, () => this.current(), ctx.waits);
 */
export function waitShared<T>(
  shared: Promise<T>,
  since: number,
  ms: number,
  again: () => Promise<T>,
  waits: Waits,
): Promise<T> {
  const left = since + ms - waits.now();
  if (left <= 0) return again();
  return orAfter<T | typeof LATE>(shared, left, LATE, waits.timer).then((value) =>
    value === LATE ? again() : value,
  );
}
