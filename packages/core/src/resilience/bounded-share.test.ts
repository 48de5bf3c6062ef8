import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deferred } from '../../test/support/deferred.js';
import { waitShared } from './bounded-share.js';
import { runtimeTimer, type Waits } from './wait.js';

/** The runtime's timer and clock, both faked here. */
const real: Waits = { timer: runtimeTimer, now: () => Date.now() };

beforeEach(() => {
  vi.useFakeTimers(); // fakes Date.now too: `since` and the caller's timer on one clock
});
afterEach(() => {
  vi.useRealTimers();
});

describe('waitShared', () => {
  it('settles like the shared work when it settles in time, rejection included, and leaves no timer', async () => {
    const work = deferred<string>();
    const again = vi.fn(async () => 'again');
    const shared = waitShared(work.promise, Date.now(), 1_000, again, real);
    work.resolve('theirs');
    await expect(shared).resolves.toBe('theirs');
    const failing = deferred<string>();
    const failed = waitShared(failing.promise, Date.now(), 1_000, again, real);
    failing.reject(new Error('boom'));
    await expect(failed).rejects.toThrow('boom');
    expect(again).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('work that never settles (cut short with the request that began it): again() once what is left of ms has passed', async () => {
    const never = new Promise<string>(() => {});
    const began = Date.now();
    await vi.advanceTimersByTimeAsync(600);
    const again = vi.fn(async () => 'mine');
    const shared = waitShared(never, began, 1_000, again, real);
    await vi.advanceTimersByTimeAsync(399);
    expect(again).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await expect(shared).resolves.toBe('mine');
    expect(again).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('already past its time: again() at once, no timer set', async () => {
    const again = vi.fn(async () => 'mine');
    const shared = waitShared(new Promise<string>(() => {}), Date.now() - 1_000, 1_000, again, real);
    expect(again).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
    await expect(shared).resolves.toBe('mine');
  });
});
