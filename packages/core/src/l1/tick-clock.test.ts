import { describe, expect, it } from 'vitest';
import type { Clock } from '../clock.js';
import { tickClock } from './tick-clock.js';

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
