import { describe, expect, it } from 'vitest';
import { MANUAL_CLOCK_START, manualClock, systemClock } from './clock.js';

describe('clocks', () => {
  it('systemClock reads Date.now()', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it('manualClock moves only when told', () => {
    const clock = manualClock();
    expect(clock.now()).toBe(MANUAL_CLOCK_START);
    expect(MANUAL_CLOCK_START).toBeGreaterThan(0);
    expect(clock.advance(1500)).toBe(MANUAL_CLOCK_START + 1500);
    expect(clock.now()).toBe(MANUAL_CLOCK_START + 1500);
    clock.set(10);
    expect(clock.now()).toBe(10);
    expect(manualClock(5).now()).toBe(5);
  });

  it('manualClock rejects negative advances and non-finite times', () => {
    const clock = manualClock(100);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.advance(Number.NaN)).toThrow(RangeError);
    expect(() => clock.set(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => manualClock(Number.NaN)).toThrow(RangeError);
    expect(clock.now()).toBe(100);
  });
});
