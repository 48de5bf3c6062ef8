import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../clock.js';
import { isStrataError, StrataError } from '../errors.js';
import type { L2Entry, L2Tier } from '../l2/types.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { guardL2 } from './guard-l2.js';

afterEach(() => {
  vi.useRealTimers();
});

/** An inner tier whose every method is a spy; by default each call succeeds. */
function stubTier() {
  return {
    name: 'stub',
    getMany: vi.fn(
      async (keys: readonly string[]): Promise<(L2Entry | null)[]> =>
        keys.map((key) => ({ value: `v:${key}`, ttlMs: 0 })),
    ),
    setMany: vi.fn(async (): Promise<number[]> => []),
    deleteMany: vi.fn(async (keys: readonly string[]) => keys.length),
    incr: vi.fn(async () => 1),
    getCounter: vi.fn(async () => 7),
    close: vi.fn(async () => {}),
  } satisfies L2Tier;
}

function setup(threshold = 3) {
  const inner = stubTier();
  const clock = manualClock();
  const breaker = new CircuitBreaker({ failureThreshold: threshold, coolDownMs: 1_000, clock });
  const onError = vi.fn<(err: StrataError) => void>();
  const l2 = guardL2(inner, { timeoutMs: 200, breaker, onError });
  return { inner, clock, breaker, onError, l2 };
}

async function caught(promise: Promise<unknown>): Promise<StrataError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isStrataError(error)) throw new Error(`expected a StrataError, got ${String(error)}`);
  return error;
}

describe('guardL2', () => {
  it('passes calls and results through', async () => {
    const { inner, l2, onError } = setup();
    expect(l2.name).toBe('stub');
    expect(await l2.getMany(['a'])).toEqual([{ value: 'v:a', ttlMs: 0 }]);
    await l2.setMany([{ key: 'a', value: '1', ttlMs: 0 }]);
    expect(await l2.deleteMany(['a', 'b'])).toBe(2);
    expect(await l2.incr('n')).toBe(1);
    expect(await l2.getCounter('n')).toBe(7);
    await l2.close();
    expect(inner.setMany).toHaveBeenCalledWith([{ key: 'a', value: '1', ttlMs: 0 }]);
    expect(inner.close).toHaveBeenCalledTimes(1);
    expect(onError).not.toHaveBeenCalled();
  });

  it('wraps a failure as L2_UNAVAILABLE with the cause, and reports exactly that error', async () => {
    const { inner, l2, onError, breaker } = setup();
    const boom = new Error('ECONNREFUSED 127.0.0.1:1');
    inner.incr.mockRejectedValueOnce(boom);
    const error = await caught(l2.incr('n'));
    expect(error.code).toBe('L2_UNAVAILABLE');
    expect(error.cause).toBe(boom);
    expect(error.message).toBe('strata: L2 stub incr failed: ECONNREFUSED 127.0.0.1:1');
    expect(error.details).toEqual({ tier: 'stub', op: 'incr', reason: 'error' });
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError).toHaveBeenCalledWith(error);
    expect(breaker.stats()).toMatchObject({ state: 'closed', failures: 1 });
  });

  it('a tier that throws synchronously is handled like one that rejects', async () => {
    const { inner, l2 } = setup();
    inner.getCounter.mockImplementationOnce(() => {
      throw new TypeError('sync');
    });
    const error = await caught(l2.getCounter('n'));
    expect(error.code).toBe('L2_UNAVAILABLE');
    expect(error.cause).toBeInstanceOf(TypeError);
  });

  it('times out a hanging call as L2_UNAVAILABLE caused by TIMEOUT, leaving no timer', async () => {
    vi.useFakeTimers();
    const { inner, l2, onError, breaker } = setup();
    inner.getMany.mockImplementationOnce(() => new Promise(() => {}));
    const outcome = caught(l2.getMany(['a']));
    await vi.advanceTimersByTimeAsync(200);
    const error = await outcome;
    expect(error.code).toBe('L2_UNAVAILABLE');
    expect(isStrataError(error.cause, 'TIMEOUT')).toBe(true);
    expect(error.details).toEqual({ tier: 'stub', op: 'getMany', reason: 'timeout' });
    expect(onError).toHaveBeenCalledWith(error);
    expect(breaker.stats().failures).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('successful calls leave no timer either', async () => {
    vi.useFakeTimers();
    const { l2 } = setup();
    await l2.getMany(['a']);
    await l2.incr('n');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('opens after N failures, then fails fast without touching the tier; a good trial closes it', async () => {
    const { inner, l2, onError, breaker, clock } = setup(3);
    inner.getMany.mockRejectedValue(new Error('down'));
    for (let i = 0; i < 3; i++) expect((await caught(l2.getMany(['a']))).details?.reason).toBe('error');
    expect(inner.getMany).toHaveBeenCalledTimes(3);
    expect(breaker.stats()).toMatchObject({ state: 'open', opens: 1 });

    const fast = await caught(l2.getMany(['a']));
    expect(fast.code).toBe('L2_UNAVAILABLE');
    expect(fast.details).toEqual({ tier: 'stub', op: 'getMany', reason: 'breaker-open' });
    await caught(l2.setMany([{ key: 'a', value: '1', ttlMs: 0 }]));
    expect(inner.getMany).toHaveBeenCalledTimes(3);
    expect(inner.setMany).not.toHaveBeenCalled();
    expect(onError).toHaveBeenCalledTimes(5);
    expect(breaker.stats()).toMatchObject({ state: 'open', rejected: 2 });

    clock.advance(1_000);
    inner.getMany.mockResolvedValue([null]);
    expect(await l2.getMany(['a'])).toEqual([null]);
    expect(breaker.stats()).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('a failed trial reopens; a concurrent call during the trial fails fast', async () => {
    const { inner, l2, breaker, clock } = setup(1);
    inner.incr.mockRejectedValue(new Error('down'));
    await caught(l2.incr('n'));
    clock.advance(1_000);
    const [trial, concurrent] = await Promise.all([caught(l2.incr('n')), caught(l2.incr('n'))]);
    expect(trial.details?.reason).toBe('error');
    expect(concurrent.details?.reason).toBe('breaker-open');
    expect(inner.incr).toHaveBeenCalledTimes(2);
    expect(breaker.stats()).toMatchObject({ state: 'open', opens: 2 });
  });

  it("passes the tier's input errors through untouched, without counting them", async () => {
    const { inner, l2, onError, breaker } = setup(1);
    const bad = new StrataError('INVALID_CONFIG', 'ttlMs must not be negative');
    inner.setMany.mockRejectedValueOnce(bad);
    await expect(l2.setMany([{ key: 'a', value: '1', ttlMs: -1 }])).rejects.toBe(bad);
    expect(onError).not.toHaveBeenCalled();
    expect(breaker.stats()).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('an L2_UNAVAILABLE from the tier counts as a failure', async () => {
    const { inner, l2, breaker } = setup(1);
    inner.getCounter.mockRejectedValueOnce(new StrataError('L2_UNAVAILABLE', 'unexpected reply'));
    const error = await caught(l2.getCounter('n'));
    expect(error.message).toBe('strata: L2 stub getCounter failed: unexpected reply');
    expect(breaker.stats().state).toBe('open');
  });

  it('empty batches make no call and need no permit', async () => {
    const { inner, l2, breaker } = setup(1);
    inner.incr.mockRejectedValueOnce(new Error('down'));
    await caught(l2.incr('n'));
    expect(breaker.stats().state).toBe('open');
    expect(await l2.getMany([])).toEqual([]);
    await l2.setMany([]);
    expect(await l2.deleteMany([])).toBe(0);
    expect(inner.getMany).not.toHaveBeenCalled();
    expect(inner.setMany).not.toHaveBeenCalled();
    expect(inner.deleteMany).not.toHaveBeenCalled();
    expect(breaker.stats().rejected).toBe(0);
  });

  it('a throwing onError does not replace the L2 error', async () => {
    const inner = stubTier();
    inner.incr.mockRejectedValueOnce(new Error('down'));
    const l2 = guardL2(inner, {
      onError: () => {
        throw new Error('logger broke');
      },
    });
    expect((await caught(l2.incr('n'))).code).toBe('L2_UNAVAILABLE');
  });

  it('close works while the breaker is open, and is reported when it fails', async () => {
    const { inner, l2, onError } = setup(1);
    inner.incr.mockRejectedValueOnce(new Error('down'));
    await caught(l2.incr('n'));
    await l2.close();
    expect(inner.close).toHaveBeenCalledTimes(1);
    inner.close.mockRejectedValueOnce(new Error('quit failed'));
    const error = await caught(l2.close());
    expect(error.details).toEqual({ tier: 'stub', op: 'close', reason: 'error' });
    expect(onError).toHaveBeenLastCalledWith(error);
  });

  it('uses a default breaker and timeout, and rejects a zero timeout', () => {
    expect(() => guardL2(stubTier())).not.toThrow();
    let error: unknown;
    try {
      guardL2(stubTier(), { timeoutMs: 0 });
    } catch (e) {
      error = e;
    }
    expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
  });
});
