import { StrataError } from '../errors.js';
import { type OneShot, runtimeTimer } from './wait.js';

/**
 * Settles like `promise`, or rejects with `StrataError('TIMEOUT')` once `ms` have passed (on `timer`:
 * the runtime's `setTimeout` unless the caller passes the host's, `hostTimer`). The timer is
 * cancelled as soon as either happens, so nothing outlives the call (a Worker's request, a test).
 *
 * The work itself is not cancelled (a promise cannot be); its late outcome is still observed, so a
 * rejection after the timeout never surfaces as an unhandled rejection.
 *
 * @example
 * const entries = await withTimeout(l2.getMany(keys), 500, 'L2 getMany');
 * // after 500 ms: StrataError { code: 'TIMEOUT', message: 'strata: L2 getMany timed out after 500 ms' }
 */
export function withTimeout<T>(
  promise: PromiseLike<T>,
  ms: number,
  what: string,
  timer: OneShot = runtimeTimer,
): Promise<T> {
  if (!(Number.isFinite(ms) && ms > 0)) {
    return Promise.reject(
      new StrataError('INVALID_CONFIG', `timeout for ${what} must be a positive number of ms, got ${ms}`, {
        details: { what, timeoutMs: ms },
      }),
    );
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const cancel = timer(ms, () => {
      if (settled) return;
      settled = true;
      reject(
        new StrataError('TIMEOUT', `${what} timed out after ${ms} ms`, { details: { what, timeoutMs: ms } }),
      );
    });
    Promise.resolve(promise).then(
      (value) => {
        if (settled) return;
        settled = true;
        cancel();
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        cancel();
        reject(error);
      },
    );
  });
}

/**
 * Settles like `promise`, or resolves `fallback` once `ms` have passed (on `timer`, as `withTimeout`'s):
 * the work goes on, and whoever holds `promise` still gets its outcome. The timer is cancelled as
 * soon as either happens.
 * @example const identity = await orAfter(l3.identity(), 200, ''); // '' when it takes longer
 */
export function orAfter<T>(
  promise: Promise<T>,
  ms: number,
  fallback: T,
  timer: OneShot = runtimeTimer,
): Promise<T> {
  let cancel: (() => void) | undefined;
  const late = new Promise<T>((resolve) => {
    cancel = timer(ms, () => resolve(fallback));
  });
  return Promise.race([promise, late]).finally(() => cancel?.());
}
