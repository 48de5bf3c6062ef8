import { describe, expect, it } from 'vitest';
import { manualClock } from '../clock.js';
import { isStrataError } from '../errors.js';
import { CircuitBreaker } from './circuit-breaker.js';

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) {
    expect(breaker.tryAcquire()).toBe(true);
    breaker.recordFailure();
  }
}

describe('CircuitBreaker', () => {
  it('defaults to 5 failures and a 5 s cool-down', () => {
    const breaker = new CircuitBreaker();
    expect(breaker.failureThreshold).toBe(5);
    expect(breaker.coolDownMs).toBe(5_000);
    expect(breaker.stats()).toEqual({ state: 'closed', failures: 0, opens: 0, rejected: 0 });
  });

  it('stays closed below the threshold, and a success resets the consecutive count', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, clock: manualClock() });
    fail(breaker, 2);
    expect(breaker.stats()).toEqual({ state: 'closed', failures: 2, opens: 0, rejected: 0 });
    expect(breaker.tryAcquire()).toBe(true);
    breaker.recordSuccess();
    fail(breaker, 2);
    expect(breaker.stats()).toMatchObject({ state: 'closed', failures: 2 });
  });

  it('opens after N consecutive failures and then rejects, counting rejections', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, clock: manualClock() });
    fail(breaker, 3);
    expect(breaker.stats()).toEqual({ state: 'open', failures: 3, opens: 1, rejected: 0 });
    expect(breaker.tryAcquire()).toBe(false);
    expect(breaker.tryAcquire()).toBe(false);
    expect(breaker.stats()).toEqual({ state: 'open', failures: 3, opens: 1, rejected: 2 });
  });

  it('lets exactly one trial through after the cool-down; success closes it', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 2, coolDownMs: '10s', clock });
    fail(breaker, 2);
    clock.advance(9_999);
    expect(breaker.tryAcquire()).toBe(false);
    clock.advance(1);
    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false);
    expect(breaker.stats()).toEqual({ state: 'half-open', failures: 2, opens: 1, rejected: 2 });
    breaker.recordSuccess();
    expect(breaker.stats()).toEqual({ state: 'closed', failures: 0, opens: 1, rejected: 2 });
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('a failed trial opens it again for a whole new cool-down', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 2, coolDownMs: 1_000, clock });
    fail(breaker, 2);
    clock.advance(1_000);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.recordFailure();
    expect(breaker.stats()).toMatchObject({ state: 'open', failures: 3, opens: 2 });
    clock.advance(999);
    expect(breaker.tryAcquire()).toBe(false);
    clock.advance(1);
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('release() frees the half-open trial without closing or opening', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, coolDownMs: 100, clock });
    fail(breaker, 1);
    clock.advance(100);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.release();
    expect(breaker.stats()).toMatchObject({ state: 'half-open', opens: 1 });
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false);
  });

  it('ignores a success reported while open (a call admitted before it opened)', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, clock: manualClock() });
    fail(breaker, 1);
    breaker.recordSuccess();
    expect(breaker.stats()).toMatchObject({ state: 'open', failures: 1 });
  });

  it('late failures while open do not reopen or restart the cool-down', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, coolDownMs: 100, clock });
    fail(breaker, 1);
    clock.advance(60);
    breaker.recordFailure();
    clock.advance(40);
    expect(breaker.stats()).toMatchObject({ state: 'half-open', opens: 1, failures: 2 });
  });

  it.each([
    { failureThreshold: 0 },
    { failureThreshold: 1.5 },
    { coolDownMs: -1 },
    { coolDownMs: '5 parsecs' as '5s' },
  ])('rejects bad options %o with INVALID_CONFIG', (options) => {
    let error: unknown;
    try {
      new CircuitBreaker(options);
    } catch (e) {
      error = e;
    }
    expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
  });
});
