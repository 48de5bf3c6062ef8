import { isStrataError } from '@strata/core';
import type { Outcome } from './fault-harness.js';

/**
 * An L3 timeout for instances whose timeouts are not what a test checks (seeds, the checks after a
 * fault, faults that answer at once): long enough that no call that goes through reaches it on a busy
 * machine (CI's load average runs to 40 on 2 cores, where a new instance's first write, claim and
 * all, has taken past 400 ms).
 */
export const BUSY_TIMEOUT = 2_000;

/** How often `pastLoad` tries a call that only a timeout failed. */
export const LOAD_ATTEMPTS = 5;

/** Whether `r` failed by a timeout (TIMEOUT or TX_TIMEOUT anywhere in its error's cause chain). */
export function timedOut(r: Outcome<unknown>): boolean {
  if (!('ok' in r) || r.ok) return false;
  for (let e: unknown = r.error; e instanceof Error; e = e.cause)
    if (isStrataError(e, 'TIMEOUT') || isStrataError(e, 'TX_TIMEOUT')) return true;
  return false;
}

/**
 * A step that is not what a test checks (a seed, a write after the fault ended) through an instance
 * whose timeout is short because its fault needs it: `call()` tried again, at most `attempts` times,
 * only while a timeout alone failed it (a busy machine — CI's load average runs to 40 on 2 cores —
 * can make a call that goes through outlast a few hundred ms). Any other error, a hang, or timeouts
 * on every attempt is the outcome, for the test to assert on. Only for calls that may run twice: a
 * write tried again writes the same row, so a timed-out attempt that lands late changes nothing.
 * @example expect(codeOf(await pastLoad(() => strata.set(schema, row), (w) => t.run(w, DEADLINE)))).toBe('OK');
 */
export async function pastLoad<T>(
  call: () => Promise<T>,
  settle: (work: Promise<T>) => Promise<Outcome<T>>,
  attempts = LOAD_ATTEMPTS,
): Promise<Outcome<T>> {
  let r = await settle(call());
  for (let i = 1; i < attempts && timedOut(r); i++) r = await settle(call());
  return r;
}
