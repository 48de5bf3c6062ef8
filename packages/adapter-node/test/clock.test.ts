import { expect, it, vi } from 'vitest';
import { nodeClock } from '../src/clock.js';

it('reads Date.now() once for many reads, and again once its 1 ms timer has fired', async () => {
  const clock = nodeClock();
  const first = clock.now();
  expect(Math.abs(first - Date.now())).toBeLessThan(1_000);
  const read = vi.spyOn(Date, 'now');
  try {
    // Synchronous: the timer cannot fire, so these are the first reading, with no clock read.
    for (let i = 0; i < 100; i++) expect(clock.now()).toBe(first);
    expect(read).not.toHaveBeenCalled();
  } finally {
    read.mockRestore();
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
  expect(clock.now()).toBeGreaterThanOrEqual(first + 4);
});
