import { type Duration, toMs } from '../duration.js';
import { isStrataError, messageOf, StrataError } from '../errors.js';
import type { L2Tier } from '../l2/types.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { Deadlines, type RaceHooks } from './deadlines.js';
import { withTimeout } from './with-timeout.js';

export interface GuardL2Options {
  /** Time limit of every call. Default 1 s. */
  timeoutMs?: Duration;
  /** Pass one in to read its `stats()` or share it; default: a new `CircuitBreaker()` (5 failures, 5 s). */
  breaker?: CircuitBreaker;
  /**
   * Called with every failure, already wrapped as `L2_UNAVAILABLE` (`details.reason` is `'error'`,
   * `'timeout'` or `'breaker-open'`), just before it is thrown, so the engine can count and log it.
   */
  onError?: (err: StrataError) => void;
}

type FailureReason = 'error' | 'timeout' | 'breaker-open';

const DEFAULT_TIMEOUT_MS = 1_000;

/**
 * Wraps an L2 so that every call has a timeout and goes through a circuit breaker. Failures and
 * timeouts are rethrown as `StrataError('L2_UNAVAILABLE')` with the original as `cause`; while the
 * breaker is open, calls fail fast the same way without touching the tier.
 *
 * Strata errors the tier raises about its input or data (say `INVALID_CONFIG` for a negative TTL,
 * `DECODE_FAILED` for a counter that is not an integer) pass through unchanged: they say nothing
 * about L2's health, so they neither count as failures nor open the breaker.
 *
 * @example
 * const breaker = new CircuitBreaker({ failureThreshold: 5, coolDownMs: '5s' });
 * const l2 = guardL2(createUpstashL2({ url, token }), {
 *   timeoutMs: 300,
 *   breaker,
 *   onError: (err) => { l2Errors++; log.warn(err); },
 * });
 */
export function guardL2(tier: L2Tier, options: GuardL2Options = {}): L2Tier {
  return guardedL2(tier, options);
}

/**
 * {@link guardL2}, also timing every call that reaches the tier (failed ones too, late ones when
 * they settle; not the breaker's fast failures) with `onCall(op, ms)` on the monotonic `now`. The
 * engine's L2: timed here, inside the same callbacks as the deadline and the breaker, rather than
 * by a wrapper of its own (a promise and a turn of the microtask queue more on every L2 read).
 */
export function guardedL2(
  tier: L2Tier,
  options: GuardL2Options,
  onCall?: (op: string, ms: number) => void,
  now: () => number = () => performance.now(),
): L2Tier {
  const timeoutMs = toMs(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'guardL2.timeoutMs');
  if (timeoutMs === 0) {
    throw new StrataError(
      'INVALID_CONFIG',
      'guardL2.timeoutMs must be positive: every remote call has a timeout',
      {
        details: { field: 'guardL2.timeoutMs', value: options.timeoutMs },
      },
    );
  }
  const breaker = options.breaker ?? new CircuitBreaker();
  const { onError } = options;

  const fail = (op: string, reason: FailureReason, cause?: unknown): StrataError => {
    const err = wrap(tier.name, op, reason, cause);
    // A throwing logger must not replace the L2 error the caller is about to get.
    try {
      onError?.(err);
    } catch {
      // Deliberately ignored: see above.
    }
    return err;
  };

  // One timer for every call out at once, not a setTimeout per call (this runs on every L2 read).
  // On the clock that times the calls: one reading per call serves both.
  const deadlines = new Deadlines(timeoutMs, now);
  /** What a failed call rejects with: the tier's own input/data errors as they are, else L2_UNAVAILABLE. */
  const failed = (op: string, error: unknown): unknown => {
    if (isStrataError(error) && error.code !== 'TIMEOUT' && error.code !== 'L2_UNAVAILABLE') {
      breaker.release();
      return error;
    }
    breaker.recordFailure();
    return fail(op, isStrataError(error, 'TIMEOUT') ? 'timeout' : 'error', error);
  };
  // The race's hooks, made once per op (a script's op is its name): no closure per call.
  const hooksByOp = new Map<string, { label: string; hooks: RaceHooks<unknown> }>();
  const hooksOf = (op: string) => {
    let entry = hooksByOp.get(op);
    if (entry === undefined) {
      const hooks: RaceHooks<unknown> = {
        resolved: () => breaker.recordSuccess(),
        rejection: (error) => failed(op, error),
        ...(onCall && { settled: (start: number) => onCall(op, now() - start) }),
      };
      entry = { label: `L2 ${tier.name} ${op}`, hooks };
      hooksByOp.set(op, entry);
    }
    return entry;
  };

  /**
   * `run(arg, sendBy)` through the breaker, under the deadline and timed. `arg` is handed on, not
   * captured: a read passes its keys and a function made once (no closure per L2 read).
   */
  function call<A, T>(
    op: string,
    run: (arg: A, sendBy: number) => Promise<T>,
    arg: A,
    entry = hooksOf(op),
  ): Promise<T> {
    if (!breaker.tryAcquire()) return Promise.reject(fail(op, 'breaker-open'));
    const start = now();
    let work: Promise<T>;
    try {
      work = run(arg, start + timeoutMs);
    } catch (error) {
      // A tier that throws synchronously is handled like one that rejects.
      work = Promise.reject(error);
    }
    return deadlines.race(work, entry.label, entry.hooks as RaceHooks<T>, start, start);
  }
  const readMany = (keys: readonly string[]) => tier.getMany(keys);
  // Every read's hooks, looked up once.
  const getManyHooks = hooksOf('getMany');

  return {
    name: tier.name,
    // Empty batches need no round trip, so they need no breaker permit either.
    getMany: (keys) =>
      keys.length === 0 ? Promise.resolve([]) : call('getMany', readMany, keys, getManyHooks),
    // The call's deadline goes along: a tier must not send the script once the caller gave up.
    run: (script, keys, args) =>
      call(script.name, (_: undefined, sendBy) => tier.run(script, keys, args, sendBy), undefined),
    // Closing must work with the breaker open; it still gets the timeout, so it cannot hang.
    close: async () => {
      // The deadlines' idle timer goes with the tier (calls after a close arm a new one).
      deadlines.clear();
      try {
        await withTimeout(
          new Promise<void>((resolve) => resolve(tier.close())),
          timeoutMs,
          `L2 ${tier.name} close`,
        );
      } catch (error) {
        throw fail('close', isStrataError(error, 'TIMEOUT') ? 'timeout' : 'error', error);
      }
    },
  };
}

function wrap(name: string, op: string, reason: FailureReason, cause: unknown): StrataError {
  const details = { tier: name, op, reason };
  if (reason === 'breaker-open') {
    return new StrataError('L2_UNAVAILABLE', `L2 ${name} ${op}: circuit breaker open, failing fast`, {
      details,
    });
  }
  const why = messageOf(cause).replace(/^strata: /, '');
  return new StrataError('L2_UNAVAILABLE', `L2 ${name} ${op} failed: ${why}`, { cause, details });
}
