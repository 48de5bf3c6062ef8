import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../clock.js';
import { isStrataError, StrataError } from '../errors.js';
import type { L2Script, L2Tier } from '../l2/types.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { guardedL2, guardL2 } from './guard-l2.js';

afterEach(() => {
  vi.useRealTimers();
});

const SCRIPT: L2Script = { name: 'put', source: 'return 1' };

/** An inner tier whose every method is a spy; by default each call succeeds. */
function stubTier() {
  return {
    name: 'stub',
    getMany: vi.fn(
      async (keys: readonly string[]): Promise<(string | null)[]> => keys.map((key) => `v:${key}`),
    ),
    run: vi.fn(
      async (
        _script: L2Script,
        keys: readonly string[],
        args: readonly string[],
        _sendBy?: number,
      ): Promise<unknown> => [keys.length, args.length],
    ),
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
    expect(await l2.getMany(['a', 'b'])).toEqual(['v:a', 'v:b']);
    const before = performance.now();
    expect(await l2.run(SCRIPT, ['k1', 'k2'], ['1'])).toEqual([2, 1]);
    await l2.close();
    expect(inner.getMany).toHaveBeenCalledWith(['a', 'b']);
    // With the call's deadline: the timeout (200 ms here) after the call began.
    expect(inner.run).toHaveBeenCalledWith(SCRIPT, ['k1', 'k2'], ['1'], expect.any(Number));
    const sendBy = vi.mocked(inner.run).mock.calls[0]![3]!;
    expect(sendBy).toBeGreaterThanOrEqual(before + 200);
    expect(sendBy).toBeLessThanOrEqual(performance.now() + 200);
    expect(inner.close).toHaveBeenCalledTimes(1);
    expect(onError).not.toHaveBeenCalled();
  });

  it('wraps a failure as L2_UNAVAILABLE with the cause, named after the script, and reports exactly that error', async () => {
    const { inner, l2, onError, breaker } = setup();
    const boom = new Error('ECONNREFUSED 127.0.0.1:1');
    inner.run.mockRejectedValueOnce(boom);
    const error = await caught(l2.run(SCRIPT, ['k'], []));
    expect(error.code).toBe('L2_UNAVAILABLE');
    expect(error.cause).toBe(boom);
    expect(error.message).toBe('strata: L2 stub put failed: ECONNREFUSED 127.0.0.1:1');
    expect(error.details).toEqual({ tier: 'stub', op: 'put', reason: 'error' });
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError).toHaveBeenCalledWith(error);
    expect(breaker.stats()).toMatchObject({ state: 'closed', failures: 1 });

    inner.getMany.mockRejectedValueOnce(new Error('socket closed'));
    const read = await caught(l2.getMany(['a']));
    expect(read.details).toEqual({ tier: 'stub', op: 'getMany', reason: 'error' });
    expect(breaker.stats().failures).toBe(2);
  });

  it('a tier that throws synchronously is handled like one that rejects', async () => {
    const { inner, l2, breaker } = setup();
    inner.run.mockImplementationOnce(() => {
      throw new TypeError('sync');
    });
    const error = await caught(l2.run(SCRIPT, [], []));
    expect(error.code).toBe('L2_UNAVAILABLE');
    expect(error.cause).toBeInstanceOf(TypeError);
    inner.getMany.mockImplementationOnce(() => {
      throw new TypeError('sync');
    });
    expect((await caught(l2.getMany(['a']))).cause).toBeInstanceOf(TypeError);
    expect(breaker.stats().failures).toBe(2);
  });

  it('times out a hanging call as L2_UNAVAILABLE caused by TIMEOUT, leaving no timer', async () => {
    vi.useFakeTimers();
    const { inner, l2, onError, breaker } = setup();
    inner.getMany.mockImplementationOnce(() => new Promise(() => {}));
    inner.run.mockImplementationOnce(() => new Promise(() => {}));
    const read = caught(l2.getMany(['a']));
    const script = caught(l2.run(SCRIPT, ['k'], []));
    await vi.advanceTimersByTimeAsync(199);
    expect(onError).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    const [readError, scriptError] = await Promise.all([read, script]);
    expect(readError.code).toBe('L2_UNAVAILABLE');
    expect(isStrataError(readError.cause, 'TIMEOUT')).toBe(true);
    expect(readError.details).toEqual({ tier: 'stub', op: 'getMany', reason: 'timeout' });
    expect(scriptError.details).toEqual({ tier: 'stub', op: 'put', reason: 'timeout' });
    expect(onError).toHaveBeenCalledWith(readError);
    expect(onError).toHaveBeenCalledWith(scriptError);
    expect(breaker.stats().failures).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('successful calls leave no timer either', async () => {
    vi.useFakeTimers();
    const { l2 } = setup();
    await l2.getMany(['a']);
    await l2.run(SCRIPT, ['k'], ['1']);
    await l2.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('opens after N failures, then fails fast without touching the tier; a good trial closes it', async () => {
    const { inner, l2, onError, breaker, clock } = setup(3);
    inner.getMany.mockRejectedValueOnce(new Error('down'));
    inner.run.mockRejectedValueOnce(new Error('down')).mockRejectedValueOnce(new Error('down'));
    expect((await caught(l2.getMany(['a']))).details?.reason).toBe('error');
    expect((await caught(l2.run(SCRIPT, ['k'], []))).details?.reason).toBe('error');
    expect(breaker.stats()).toMatchObject({ state: 'closed', failures: 2 });
    expect((await caught(l2.run(SCRIPT, ['k'], []))).details?.reason).toBe('error');
    expect(breaker.stats()).toMatchObject({ state: 'open', opens: 1 });

    const fast = await caught(l2.getMany(['a']));
    expect(fast.code).toBe('L2_UNAVAILABLE');
    expect(fast.details).toEqual({ tier: 'stub', op: 'getMany', reason: 'breaker-open' });
    expect(fast.message).toBe('strata: L2 stub getMany: circuit breaker open, failing fast');
    const fastScript = await caught(l2.run(SCRIPT, ['k'], []));
    expect(fastScript.details).toEqual({ tier: 'stub', op: 'put', reason: 'breaker-open' });
    // A script with no keys is still a round trip: it needs a permit like any other.
    expect((await caught(l2.run(SCRIPT, [], []))).details?.reason).toBe('breaker-open');
    expect(inner.getMany).toHaveBeenCalledTimes(1);
    expect(inner.run).toHaveBeenCalledTimes(2);
    expect(onError).toHaveBeenCalledTimes(6);
    expect(breaker.stats()).toMatchObject({ state: 'open', rejected: 3 });

    // Half-open after the cool-down: one trial goes through, and its success closes the breaker.
    clock.advance(999);
    expect((await caught(l2.run(SCRIPT, [], []))).details?.reason).toBe('breaker-open');
    clock.advance(1);
    expect(await l2.run(SCRIPT, ['k'], ['1'])).toEqual([1, 1]);
    expect(breaker.stats()).toMatchObject({ state: 'closed', failures: 0 });
    expect(await l2.getMany(['a'])).toEqual(['v:a']);
  });

  it('a failed trial reopens; a concurrent call during the trial fails fast', async () => {
    const { inner, l2, breaker, clock } = setup(1);
    inner.run.mockRejectedValue(new Error('down'));
    await caught(l2.run(SCRIPT, [], []));
    clock.advance(1_000);
    const [trial, concurrent] = await Promise.all([
      caught(l2.run(SCRIPT, [], [])),
      caught(l2.getMany(['a'])),
    ]);
    expect(trial.details?.reason).toBe('error');
    expect(concurrent.details?.reason).toBe('breaker-open');
    expect(inner.run).toHaveBeenCalledTimes(2);
    expect(inner.getMany).not.toHaveBeenCalled();
    expect(breaker.stats()).toMatchObject({ state: 'open', opens: 2 });
  });

  it("passes the tier's input errors through untouched, without counting them", async () => {
    const { inner, l2, onError, breaker } = setup(1);
    const bad = new StrataError('INVALID_CONFIG', 'ttlMs must not be negative');
    const undecodable = new StrataError('DECODE_FAILED', 'not an envelope');
    inner.run.mockRejectedValueOnce(bad);
    inner.getMany.mockRejectedValueOnce(undecodable);
    await expect(l2.run(SCRIPT, ['k'], ['-1'])).rejects.toBe(bad);
    await expect(l2.getMany(['a'])).rejects.toBe(undecodable);
    expect(onError).not.toHaveBeenCalled();
    expect(breaker.stats()).toMatchObject({ state: 'closed', failures: 0 });
    // The permit such a call took is given back: with a threshold of 1 the next call still runs.
    expect(await l2.getMany(['a'])).toEqual(['v:a']);
  });

  it('an L2_UNAVAILABLE from the tier counts as a failure', async () => {
    const { inner, l2, breaker } = setup(1);
    inner.getMany.mockRejectedValueOnce(new StrataError('L2_UNAVAILABLE', 'unexpected reply'));
    const error = await caught(l2.getMany(['a']));
    expect(error.message).toBe('strata: L2 stub getMany failed: unexpected reply');
    expect(breaker.stats().state).toBe('open');
  });

  it('an empty getMany makes no call and needs no permit', async () => {
    const { inner, l2, breaker } = setup(1);
    inner.run.mockRejectedValueOnce(new Error('down'));
    await caught(l2.run(SCRIPT, [], []));
    expect(breaker.stats().state).toBe('open');
    expect(await l2.getMany([])).toEqual([]);
    expect(inner.getMany).not.toHaveBeenCalled();
    expect(breaker.stats().rejected).toBe(0);
  });

  it('a throwing onError does not replace the L2 error', async () => {
    const inner = stubTier();
    inner.run.mockRejectedValueOnce(new Error('down'));
    const l2 = guardL2(inner, {
      onError: () => {
        throw new Error('logger broke');
      },
    });
    expect((await caught(l2.run(SCRIPT, [], []))).code).toBe('L2_UNAVAILABLE');
  });

  it('close works while the breaker is open, and is reported when it fails or hangs', async () => {
    const { inner, l2, onError, breaker } = setup(1);
    inner.getMany.mockRejectedValueOnce(new Error('down'));
    await caught(l2.getMany(['a']));
    expect(breaker.stats().state).toBe('open');
    await l2.close();
    expect(inner.close).toHaveBeenCalledTimes(1);
    inner.close.mockRejectedValueOnce(new Error('quit failed'));
    const error = await caught(l2.close());
    expect(error.details).toEqual({ tier: 'stub', op: 'close', reason: 'error' });
    expect(onError).toHaveBeenLastCalledWith(error);

    vi.useFakeTimers();
    inner.close.mockImplementationOnce(() => new Promise(() => {}));
    const hanging = caught(l2.close());
    await vi.advanceTimersByTimeAsync(200);
    expect((await hanging).details).toEqual({ tier: 'stub', op: 'close', reason: 'timeout' });
    // Closing neither counts as a failure nor touches the breaker.
    expect(breaker.stats()).toMatchObject({ state: 'open', failures: 1, rejected: 0 });
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

  it('reads the clock once to start a call: its deadline and its timing share the reading', async () => {
    // The engine's guard times every call; a second reading for the deadline was one more clock
    // read (a system call on some VMs) on every L2 read.
    const dateNow = vi.spyOn(Date, 'now');
    let t = 1_000;
    const now = vi.fn(() => t);
    const onCall = vi.fn<(op: string, ms: number) => void>();
    const inner = stubTier();
    inner.getMany.mockImplementationOnce(async (keys) => {
      t += 7;
      return keys.map(() => null);
    });
    const l2 = guardedL2(inner, { timeoutMs: 200 }, onCall, now);
    await expect(l2.getMany(['a'])).resolves.toEqual([null]);
    expect(now).toHaveBeenCalledTimes(2);
    expect(onCall).toHaveBeenCalledWith('getMany', 7);
    expect(dateNow).not.toHaveBeenCalled();
    dateNow.mockRestore();
    await l2.close();
  });
});
