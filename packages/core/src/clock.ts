/**
 * The source of "now" for TTLs, so tests control time instead of sleeping.
 *
 * @example
 * const l1 = createMemoryL1({ clock: systemClock });
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * This clock is moved by hand (tests, `manualClock`): L2 values are then aged on it alone. Any
   * other clock is corrected to Redis' clock for them (see `L2Watch.skew`), so instances whose
   * clocks disagree still agree on how old a cached row is.
   */
  readonly manual?: boolean;
}

/** The real clock (`Date.now()`), available in every runtime core targets. */
export const systemClock: Clock = { now: () => Date.now() };

export interface ManualClock extends Clock {
  /** Moves time forward by `ms` (>= 0) and returns the new time. */
  advance(ms: number): number;
  /** Jumps to `ms`, backwards too (to test a clock that steps back). */
  set(ms: number): void;
}

/**
 * Default start of a {@link manualClock}: a fixed, realistic instant rather than 0, so a time of 0
 * never collides with "expiresAt 0 = never expires".
 */
export const MANUAL_CLOCK_START = Date.UTC(2025, 0, 1);

/**
 * A clock that only moves when told to; for tests.
 *
 * @example
 * const clock = manualClock();
 * const l1 = createMemoryL1({ clock, defaultTtlMs: 1000 });
 * l1.set('a', 1);
 * clock.advance(1000);
 * l1.get('a'); // undefined: expired
 */
export function manualClock(start: number = MANUAL_CLOCK_START): ManualClock {
  let current = checked(start, 'start');
  return {
    manual: true,
    now: () => current,
    advance(ms) {
      if (checked(ms, 'advance') < 0) throw new RangeError(`manualClock.advance: ${ms} is negative`);
      current += ms;
      return current;
    },
    set(ms) {
      current = checked(ms, 'set');
    },
  };
}

function checked(ms: number, what: string): number {
  if (!Number.isFinite(ms)) throw new RangeError(`manualClock.${what}: ${ms} is not a finite number`);
  return ms;
}
