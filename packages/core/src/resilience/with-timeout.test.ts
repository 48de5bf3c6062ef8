import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deferred } from '../../test/support/deferred.js';
import { isStrataError } from '../errors.js';
import { hostTimer } from './wait.js';
import { withTimeout } from './with-timeout.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('withTimeout', () => {
  it('resolves with the value and clears its timer', async () => {
    const work = deferred<string>();
    const guarded = withTimeout(work.promise, 1_000, 'work');
    expect(vi.getTimerCount()).toBe(1);
    work.resolve('done');
    await expect(guarded).resolves.toBe('done');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with the original error and clears its timer', async () => {
    const work = deferred<string>();
    const guarded = withTimeout(work.promise, 1_000, 'work');
    const boom = new Error('boom');
    work.reject(boom);
    await expect(guarded).rejects.toBe(boom);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with TIMEOUT after ms, and leaves no timer behind', async () => {
    const work = deferred<string>();
    const outcome = withTimeout(work.promise, 250, 'L2 getMany').catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(249);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const error = await outcome;
    expect(isStrataError(error, 'TIMEOUT')).toBe(true);
    expect((error as Error).message).toBe('strata: L2 getMany timed out after 250 ms');
    expect(vi.getTimerCount()).toBe(0);
    // The work failing later is observed, not an unhandled rejection (vitest would fail the run).
    work.reject(new Error('late'));
    await vi.runAllTimersAsync();
  });

  it('a value arriving after the timeout does not change the outcome', async () => {
    const work = deferred<string>();
    const outcome = withTimeout(work.promise, 10, 'work').catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(10);
    work.resolve('too late');
    expect(isStrataError(await outcome, 'TIMEOUT')).toBe(true);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])(
    'rejects a timeout of %s with INVALID_CONFIG',
    async (ms) => {
      const error = await withTimeout(Promise.resolve(1), ms, 'work').catch((e: unknown) => e);
      expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    },
  );

  it("runs on the host's timer when given one: cancelled when the work settles first, TIMEOUT when it runs", async () => {
    const tasks: { ms: number; task: () => void; cancelled: boolean }[] = [];
    const timer = hostTimer({
      config: {
        scheduler: {
          every: () => () => {},
          after(ms, task) {
            const t = { ms, task, cancelled: false };
            tasks.push(t);
            return () => {
              t.cancelled = true;
            };
          },
        },
      },
    });
    const answered = deferred<string>();
    const first = withTimeout(answered.promise, 100, 'bus poll', timer);
    answered.resolve('ok');
    await expect(first).resolves.toBe('ok');
    expect(tasks.map((t) => [t.ms, t.cancelled])).toEqual([[100, true]]);
    const hanging = deferred<string>();
    const second = withTimeout(hanging.promise, 100, 'bus poll', timer).catch((e: unknown) => e);
    tasks[1]!.task();
    expect(isStrataError(await second, 'TIMEOUT')).toBe(true);
    expect(tasks[1]!.cancelled).toBe(false);
    // No runtime timer was used.
    expect(vi.getTimerCount()).toBe(0);
    hanging.resolve('late');
  });
});
