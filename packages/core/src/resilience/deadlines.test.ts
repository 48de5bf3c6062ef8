import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deferred } from '../../test/support/deferred.js';
import { isStrataError } from '../errors.js';
import { Deadlines } from './deadlines.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const caught = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('Deadlines', () => {
  it('settles like the work; once nothing is out its timer goes when it fires, or at clear()', async () => {
    const deadlines = new Deadlines(1_000);
    const a = deferred<string>();
    const b = deferred<string>();
    const ra = deadlines.race(a.promise, 'a');
    const rb = deadlines.race(b.promise, 'b');
    expect(vi.getTimerCount()).toBe(1);
    a.resolve('A');
    await expect(ra).resolves.toBe('A');
    expect(vi.getTimerCount()).toBe(1);
    b.reject(new Error('down'));
    await expect(rb).rejects.toThrow('down');
    expect(deadlines.size).toBe(0);
    // Kept unreferenced for the next call; firing with nothing out, it arms no other.
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(vi.getTimerCount()).toBe(0);
    await deadlines.race(Promise.resolve(1), 'c');
    expect(vi.getTimerCount()).toBe(1);
    deadlines.clear();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('calls one after another share one timer, unreferenced between them (Node)', async () => {
    vi.useRealTimers();
    const armed: ReturnType<typeof setTimeout>[] = [];
    const real = globalThis.setTimeout;
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      const timer = real(fn, ms);
      armed.push(timer);
      return timer;
    }) as typeof setTimeout);
    try {
      const deadlines = new Deadlines(60_000);
      for (let i = 0; i < 5; i++) {
        const work = deferred<number>();
        const raced = deadlines.race(work.promise, 'w');
        expect(armed[0]!.hasRef()).toBe(true);
        work.resolve(i);
        await expect(raced).resolves.toBe(i);
        expect(armed[0]!.hasRef()).toBe(false);
      }
      expect(armed).toHaveLength(1);
      deadlines.clear();
    } finally {
      spy.mockRestore();
    }
  });

  it('a call after an idle spell still times out at its own deadline', async () => {
    const deadlines = new Deadlines(100);
    await deadlines.race(Promise.resolve(1), 'first');
    await vi.advanceTimersByTimeAsync(60);
    const late = caught(deadlines.race(new Promise(() => {}), 'late'));
    // The kept timer fires at 100 ms (for the first call's deadline) and re-arms for this one's.
    await vi.advanceTimersByTimeAsync(99);
    expect(deadlines.size).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(isStrataError(await late, 'TIMEOUT')).toBe(true);
    expect(deadlines.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('times out each call at its own deadline, with one timer for all of them', async () => {
    const deadlines = new Deadlines(100);
    const first = caught(deadlines.race(new Promise(() => {}), 'first'));
    await vi.advanceTimersByTimeAsync(40);
    const second = caught(deadlines.race(new Promise(() => {}), 'second'));
    const done = deferred<number>();
    const third = deadlines.race(done.promise, 'third');
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(59);
    expect(deadlines.size).toBe(3);
    await vi.advanceTimersByTimeAsync(1);
    const err = (await first) as Error;
    expect(isStrataError(err, 'TIMEOUT')).toBe(true);
    expect(err.message).toBe('strata: first timed out after 100 ms');
    expect(deadlines.size).toBe(2);
    done.resolve(3);
    await expect(third).resolves.toBe(3);
    await vi.advanceTimersByTimeAsync(39);
    expect(deadlines.size).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(isStrataError(await second, 'TIMEOUT')).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a late rejection after the timeout is observed, not unhandled', async () => {
    const deadlines = new Deadlines(10);
    const work = deferred<never>();
    const result = caught(deadlines.race(work.promise, 'late'));
    await vi.advanceTimersByTimeAsync(10);
    expect(isStrataError(await result, 'TIMEOUT')).toBe(true);
    work.reject(new Error('late'));
    await vi.advanceTimersByTimeAsync(0);
    expect(deadlines.size).toBe(0);
  });

  it('runs the hooks around the outcome: settled for every one (late too), resolved, rejection', async () => {
    const deadlines = new Deadlines(10);
    const seen: string[] = [];
    const hooks = {
      settled: (token: number) => seen.push(`settled ${token}`),
      resolved: (value: string) => seen.push(`resolved ${value}`),
      rejection: (error: unknown) => new Error(`mapped ${(error as Error).message}`),
    };
    await expect(deadlines.race(Promise.resolve('A'), 'a', hooks, 1)).resolves.toBe('A');
    await expect(deadlines.race(Promise.reject(new Error('down')), 'b', hooks, 2)).rejects.toThrow(
      'mapped down',
    );
    const late = deferred<string>();
    const timedOut = caught(deadlines.race(late.promise, 'c', hooks, 3));
    await vi.advanceTimersByTimeAsync(10);
    expect(((await timedOut) as Error).message).toBe('mapped strata: c timed out after 10 ms');
    late.resolve('C');
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual(['settled 1', 'resolved A', 'settled 2', 'settled 3']);
    expect(deadlines.size).toBe(0);
  });

  it('a throwing hook fails the call like the work failing', async () => {
    const deadlines = new Deadlines(10);
    const result = deadlines.race(Promise.resolve('A'), 'a', {
      resolved: () => {
        throw new Error('recorder broke');
      },
      rejection: (error) => new Error(`mapped ${(error as Error).message}`),
    });
    await expect(result).rejects.toThrow('mapped recorder broke');
    expect(deadlines.size).toBe(0);
  });

  it('takes a start its caller read already: no clock read of its own', async () => {
    const now = vi.fn(() => 5_000);
    const deadlines = new Deadlines(100, now);
    const work = deferred<string>();
    const raced = caught(deadlines.race(work.promise, 'w', undefined, 0, 4_950));
    expect(now).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(100);
    expect(isStrataError(await raced, 'TIMEOUT')).toBe(true);
    expect(deadlines.size).toBe(0);
  });
});
