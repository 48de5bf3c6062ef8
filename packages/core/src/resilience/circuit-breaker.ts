import { type Clock, systemClock } from '../clock.js';
import { type Duration, toMs } from '../duration.js';
import { StrataError } from '../errors.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. Default 5. */
  failureThreshold?: number;
  /** How long it stays open before letting one trial call through. Default 5 s. */
  coolDownMs?: Duration;
  /** Source of "now" for the cool-down. Default {@link systemClock}. */
  clock?: Clock;
}

export interface BreakerStats {
  state: BreakerState;
  /** Consecutive failures since the last success. */
  failures: number;
  /** How many times the breaker has opened. */
  opens: number;
  /** Calls refused without being attempted. */
  rejected: number;
}

const DEFAULT_THRESHOLD = 5;
const DEFAULT_COOL_DOWN_MS = 5_000;

/**
 * Stops calling a tier that keeps failing: closed -> open after `failureThreshold` consecutive
 * failures -> half-open once `coolDownMs` has passed (read from the clock: no timers) -> exactly one
 * trial call -> closed if it succeeds, open again if it fails.
 *
 * The caller brackets each call: `tryAcquire()` first (false = fail fast), then one of
 * `recordSuccess()`, `recordFailure()` or `release()`.
 *
 * @example
 * const breaker = new CircuitBreaker({ failureThreshold: 3, coolDownMs: '10s' });
 * if (!breaker.tryAcquire()) throw new StrataError('L2_UNAVAILABLE', 'circuit open');
 * try { const v = await call(); breaker.recordSuccess(); return v; }
 * catch (err) { breaker.recordFailure(); throw err; }
 */
export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly coolDownMs: number;
  readonly #clock: Clock;
  #state: BreakerState = 'closed';
  #openedAt = 0;
  #trialInFlight = false;
  #failures = 0;
  #opens = 0;
  #rejected = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    const threshold = options.failureThreshold ?? DEFAULT_THRESHOLD;
    if (!Number.isInteger(threshold) || threshold < 1) {
      throw new StrataError('INVALID_CONFIG', `failureThreshold must be an integer >= 1, got ${threshold}`, {
        details: { field: 'failureThreshold', value: threshold },
      });
    }
    this.failureThreshold = threshold;
    this.coolDownMs = toMs(options.coolDownMs ?? DEFAULT_COOL_DOWN_MS, 'coolDownMs');
    this.#clock = options.clock ?? systemClock;
  }

  /** The state as the next call would see it: an open breaker whose cool-down is over reads half-open. */
  get state(): BreakerState {
    return this.#state === 'open' && this.#coolDownOver() ? 'half-open' : this.#state;
  }

  /**
   * Asks to make a call. True: go ahead, then report how it went. False: fail fast (the breaker is
   * open, or half-open with its one trial already out); counted in `rejected`.
   */
  tryAcquire(): boolean {
    if (this.#state === 'open' && this.#coolDownOver()) {
      this.#state = 'half-open';
      this.#trialInFlight = false;
    }
    if (this.#state === 'closed') return true;
    if (this.#state === 'half-open' && !this.#trialInFlight) {
      this.#trialInFlight = true;
      return true;
    }
    this.#rejected++;
    return false;
  }

  /** The call succeeded: the tier answers, so close. */
  recordSuccess(): void {
    // Ignored while open: a call let through before the breaker opened says little about now,
    // and closing on it would cut the cool-down short.
    if (this.#state === 'open') return;
    this.#state = 'closed';
    this.#failures = 0;
    this.#trialInFlight = false;
  }

  /** The call failed or timed out. */
  recordFailure(): void {
    this.#failures++;
    if (
      this.#state === 'half-open' ||
      (this.#state === 'closed' && this.#failures >= this.failureThreshold)
    ) {
      this.#state = 'open';
      this.#openedAt = this.#clock.now();
      this.#trialInFlight = false;
      this.#opens++;
    }
  }

  /**
   * The call ended without telling anything about the tier's health (e.g. it rejected its input
   * before any I/O): frees the half-open trial slot so the next call can be the trial.
   */
  release(): void {
    if (this.#state === 'half-open') this.#trialInFlight = false;
  }

  stats(): BreakerStats {
    return { state: this.state, failures: this.#failures, opens: this.#opens, rejected: this.#rejected };
  }

  #coolDownOver(): boolean {
    return this.#clock.now() - this.#openedAt >= this.coolDownMs;
  }
}
