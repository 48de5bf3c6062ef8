import { describe, expect, it } from 'vitest';
import type { Clock } from '../clock.js';
import { type HostTimer, tickClock, timerClock } from './tick-clock.js';

function countingClock(): Clock & { reads: number; time: number } {
  const source = {
    reads: 0,
    time: 1_000,
    now: () => {
      source.reads++;
      return source.time;
    },
  };
  return source;
}

const nextRun = () => new Promise<void>((resolve) => queueMicrotask(resolve));

describe('tickClock', () => {
  it('reads the source once per synchronous run, again after the microtask queue turns', async () => {
    const source = countingClock();
    const clock = tickClock(source);
    for (let i = 0; i < 100; i++) expect(clock.now()).toBe(1_000);
    expect(source.reads).toBe(1);
    source.time = 2_000;
    expect(clock.now()).toBe(1_000); // same run: time stands still
    await nextRun();
    expect(clock.now()).toBe(2_000);
    expect(source.reads).toBe(2);
  });

  it('goes direct when every run reads once, so an await loop pays no microtask per read', async () => {
    const source = countingClock();
    const clock = tickClock(source);
    for (let i = 0; i < 4; i++) {
      clock.now();
      await nextRun();
    }
    // Direct now: every read asks the source, and sees it move within one run.
    const before = source.reads;
    clock.now();
    source.time = 3_000;
    expect(clock.now()).toBe(3_000);
    expect(source.reads).toBe(before + 2);
  });
});

describe('timerClock', () => {
  /** A host timer the test fires by hand. */
  function handTimer(): HostTimer & { tasks: (() => void)[]; delays: number[] } {
    const tasks: (() => void)[] = [];
    const delays: number[] = [];
    return Object.assign(
      (ms: number, task: () => void) => {
        delays.push(ms);
        tasks.push(task);
      },
      { tasks, delays },
    );
  }

  it('reuses a reading across runs until the host timer fires, with one timer at a time', async () => {
    const source = countingClock();
    const timer = handTimer();
    const clock = timerClock(timer, source);
    expect(clock.now()).toBe(1_000);
    source.time = 2_000;
    await nextRun();
    // An await loop's next run: the same reading, no clock read, no second timer.
    expect(clock.now()).toBe(1_000);
    expect(source.reads).toBe(1);
    expect(timer.delays).toEqual([1]);
    timer.tasks.shift()?.();
    expect(clock.now()).toBe(2_000);
    expect(source.reads).toBe(2);
    expect(timer.delays).toEqual([1, 1]);
  });

  it('reads again every 1,000 reads when the timer cannot fire (code that never yields)', () => {
    const source = countingClock();
    const timer = handTimer();
    const clock = timerClock(timer, source);
    for (let i = 0; i < 1_000; i++) clock.now();
    expect(source.reads).toBe(1);
    source.time = 2_000;
    expect(clock.now()).toBe(2_000);
    expect(source.reads).toBe(2);
    // Still the first timer pending: no pile of timers.
    expect(timer.tasks).toHaveLength(1);
  });
});
