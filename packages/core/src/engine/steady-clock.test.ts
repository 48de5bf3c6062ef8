import { describe, expect, it } from 'vitest';
import { manualClock, systemClock } from '../clock.js';
import { steadyClock, wallClock } from './steady-clock.js';

describe('steadyClock', () => {
  it('follows its source forward, never back, and goes on at its pace after a step back', () => {
    let t = 1_000_000;
    const source = { now: () => t };
    const clock = steadyClock(source, () => 0); // a monotonic clock that saw no time pass
    expect(clock.now()).toBe(1_000_000);
    t += 500;
    expect(clock.now()).toBe(1_000_500);
    t -= 3_600_000; // NTP steps the wall clock back an hour
    expect(clock.now()).toBe(1_000_500);
    t += 2_000;
    expect(clock.now()).toBe(1_002_500);
    t += 10_000_000; // a step forward is taken as it comes
    expect(clock.now()).toBe(11_002_500);
    expect(wallClock(clock)).toBe(source);
    expect(wallClock(clock).now()).toBe(t);
  });

  it('counts the time across a step back on the monotonic clock: an idle gap is not lost', () => {
    let t = 1_000_000;
    let mono = 50;
    const clock = steadyClock({ now: () => t }, () => mono);
    expect(clock.now()).toBe(1_000_000);
    // Idle 70 s (no reading), the wall clock stepped back an hour meanwhile.
    mono += 70_000.6;
    t += 70_000 - 3_600_000;
    expect(clock.now()).toBe(1_070_000);
    t += 1_000;
    mono += 1_000;
    expect(clock.now()).toBe(1_071_000);
    // Read again at once: the same reading, no monotonic time counted twice.
    expect(clock.now()).toBe(1_071_000);
  });

  it('takes a manual clock as it is (tests step it back on purpose), and is not wrapped twice', () => {
    const manual = manualClock();
    expect(steadyClock(manual)).toBe(manual);
    expect(wallClock(manual)).toBe(manual);
    const steady = steadyClock(systemClock);
    expect(steadyClock(steady)).toBe(steady);
    expect(wallClock(steady)).toBe(systemClock);
    expect(Math.abs(steady.now() - Date.now())).toBeLessThan(1_000);
  });
});
