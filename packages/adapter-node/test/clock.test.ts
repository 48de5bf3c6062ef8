import { expect, it, vi } from 'vitest';
import { nodeClock } from '../src/clock.js';

/** One turn of the event loop: resolves in the check phase of the loop's next iteration. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

it('reads Date.now() once for many reads, and again once the event-loop turn has ended', async () => {
  const clock = nodeClock();
  const first = clock.now();
  expect(Math.abs(first - Date.now())).toBeLessThan(1_000);
  const read = vi.spyOn(Date, 'now');
  try {
    // Synchronous: the turn cannot end, so these are the first reading, with no clock read.
    for (let i = 0; i < 100; i++) expect(clock.now()).toBe(first);
    expect(read).not.toHaveBeenCalled();
  } finally {
    read.mockRestore();
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
  expect(clock.now()).toBeGreaterThanOrEqual(first + 4);
});

it('keeps no reading past the turn it was taken in, and no timer pending for it', async () => {
  const clock = nodeClock();
  const timers = vi.spyOn(globalThis, 'setTimeout');
  const read = vi.spyOn(Date, 'now');
  try {
    clock.now();
    expect(read).toHaveBeenCalledTimes(1);
    // A pending timer makes every I/O wait of the process poll again when it falls due: a 1 ms
    // one, set again every millisecond, cost a loop of ioredis GETs ~40 % more CPU (performance.md).
    expect(timers).not.toHaveBeenCalled();
    await turn();
    // Well under 1 ms later, in the next turn: read again.
    clock.now();
    expect(read).toHaveBeenCalledTimes(2);
  } finally {
    read.mockRestore();
    timers.mockRestore();
  }
});

it('serves reads a loop of awaits makes in one macrotask from one reading', async () => {
  const clock = nodeClock();
  await turn();
  const read = vi.spyOn(Date, 'now');
  try {
    const first = clock.now();
    // Each read resumes in a promise job, as `await strata.get` on an L1 hit does.
    for (let i = 0; i < 100; i++) {
      await Promise.resolve();
      expect(clock.now()).toBe(first);
    }
    expect(read).toHaveBeenCalledTimes(1);
  } finally {
    read.mockRestore();
  }
});
