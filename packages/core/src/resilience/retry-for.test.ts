import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveConfig } from '../config.js';
import { EngineContext } from '../engine/context.js';
import { Counters } from '../engine/stats.js';
import type { Logger } from '../observability/logger.js';
import type { Scheduler } from '../scheduler.js';
import { Retry, type RetryOptions, retryFor } from './retry-for.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * A context whose waits go to a hand-driven scheduler (`fire` runs the oldest, moving monotonic
 * time by its length), whose log lines are kept, and whose tracked work is listed.
 */
function setup() {
  let now = 1_000;
  vi.spyOn(performance, 'now').mockImplementation(() => now);
  const waits: { ms: number; task: () => void }[] = [];
  const scheduler: Scheduler = {
    every: () => () => {},
    after: (ms, task) => void waits.push({ ms, task }),
  };
  const warnings: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    error() {},
    warn: (message) => void warnings.push(message),
  };
  const ctx = new EngineContext(resolveConfig({ scheduler, logger }), new Counters());
  const tracked: Promise<unknown>[] = [];
  const track = ctx.track.bind(ctx);
  ctx.track = (work) => {
    tracked.push(work);
    track(work);
  };
  /** Lets pending promise callbacks run (no timer: the scheduler holds every wait). */
  const turn = async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  /** Runs the oldest wait, time moved by `spent` plus its length; returns its length. */
  const fire = async (spent = 0) => {
    await turn();
    const wait = waits.shift();
    if (!wait) throw new Error('no wait pending');
    now += spent + wait.ms;
    wait.task();
    await turn();
    return wait.ms;
  };
  return {
    ctx,
    waits,
    warnings,
    tracked,
    fire,
    turn,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const options = (over: Partial<RetryOptions> = {}): RetryOptions => ({
  delay: 100,
  maxDelay: 2_000,
  forMs: 30_000,
  label: { schema: 'players', tier: 'l2', op: 'restore-pending' },
  ...over,
});

describe('retryFor', () => {
  it('waits 100 ms doubling to 2 s on the scheduler, counting and logging each failure, until the step succeeds', async () => {
    const { ctx, waits, warnings, fire } = setup();
    let calls = 0;
    const work = retryFor(ctx, async () => ++calls > 7, options());
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) delays.push(await fire());
    expect(await work).toBe(true);
    expect(delays).toEqual([100, 200, 400, 800, 1_600, 2_000, 2_000]);
    expect(calls).toBe(8);
    expect(waits).toEqual([]);
    // Each failure: a false step counted its own (none here) — a thrown one is counted below.
    expect(ctx.counters.errorsBy.l2).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('counts and logs each thrown failure under its label', async () => {
    const { ctx, warnings, fire } = setup();
    let calls = 0;
    const work = retryFor(
      ctx,
      async () => {
        if (++calls < 3) throw new Error(`down ${calls}`);
        return true;
      },
      options(),
    );
    await fire();
    await fire();
    expect(await work).toBe(true);
    expect(ctx.counters.errorsBy.l2).toBe(2);
    expect(warnings).toEqual([
      'l2 restore-pending failed; continuing without it',
      'l2 restore-pending failed; continuing without it',
    ]);
  });

  it('without maxDelay every wait is the same', async () => {
    const { ctx, fire } = setup();
    let calls = 0;
    const work = retryFor(ctx, async () => ++calls > 3, options({ maxDelay: undefined }));
    expect([await fire(), await fire(), await fire()]).toEqual([100, 100, 100]);
    expect(await work).toBe(true);
  });

  it('begins no wait that would end past the bound (time the attempts took included)', async () => {
    const { ctx, waits, fire, turn } = setup();
    const work = retryFor(ctx, async () => false, options({ delay: 100, maxDelay: 100, forMs: 1_000 }));
    // Failures at 0, then after 100 + 350 spent, 100 + 350: at 900 a wait of 100 would end at the bound.
    await fire(350);
    await fire(350);
    await turn();
    expect(waits).toEqual([]);
    expect(await work).toBe(false);
  });

  it('makes no attempt once close began: neither a new wait nor the one a wait was for', async () => {
    const { ctx, waits, fire, turn } = setup();
    let calls = 0;
    const work = retryFor(
      ctx,
      async () => {
        calls += 1;
        return false;
      },
      options(),
    );
    await turn();
    ctx.closing = true;
    await fire();
    expect(await work).toBe(false);
    expect(calls).toBe(1);
    expect(waits).toEqual([]);
  });

  it('is tracked: settled() waits for it', async () => {
    const { ctx, tracked, fire } = setup();
    let calls = 0;
    const work = retryFor(ctx, async () => ++calls > 1, options());
    expect(tracked).toContain(work);
    await fire();
    await ctx.settled();
    expect(calls).toBe(2);
  });

  it('a rejection without a reason is still counted', async () => {
    const { ctx, fire } = setup();
    let calls = 0;
    const work = retryFor(
      ctx,
      () => (++calls === 1 ? Promise.reject(undefined) : Promise.resolve(true)),
      options(),
    );
    await fire();
    expect(await work).toBe(true);
    expect(ctx.counters.errorsBy.l2).toBe(1);
  });
});

describe('Retry.later', () => {
  it('calls again with the next point after a tracked wait, each failure counted, the delays doubling', async () => {
    const { ctx, tracked, fire } = setup();
    const points: Retry[] = [];
    const first = new Retry(ctx, options());
    expect(first.later(new Error('down'), (next) => points.push(next))).toBe(true);
    expect(tracked).toHaveLength(1);
    expect(await fire()).toBe(100);
    expect(points.map((p) => p.delay)).toEqual([200]);
    expect(points[0]!.later(new Error('down'), (next) => points.push(next))).toBe(true);
    expect(await fire()).toBe(200);
    expect(points.map((p) => p.delay)).toEqual([200, 400]);
    expect(points[1]!.until).toBe(first.until);
    expect(ctx.counters.errorsBy.l2).toBe(2);
  });

  it('gives up past the bound or once closing, and does not call again when close began during the wait', async () => {
    const { ctx, waits, fire, advance } = setup();
    const again = vi.fn();
    const retry = new Retry(ctx, options({ forMs: 1_000 }));
    advance(900);
    expect(retry.later(new Error('down'), again)).toBe(false);
    const fresh = new Retry(ctx, options());
    expect(fresh.later(new Error('down'), again)).toBe(true);
    ctx.closing = true;
    await fire();
    expect(again).not.toHaveBeenCalled();
    expect(fresh.later(new Error('down'), again)).toBe(false);
    expect(waits).toEqual([]);
    expect(ctx.counters.errorsBy.l2).toBe(3);
  });
});

describe('without scheduler.after', () => {
  it('waits on setTimeout', async () => {
    vi.useFakeTimers();
    try {
      const ctx = new EngineContext(resolveConfig({ logger: silent }), new Counters());
      let calls = 0;
      const work = retryFor(ctx, async () => ++calls > 1, options());
      await vi.advanceTimersByTimeAsync(99);
      expect(calls).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(await work).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
