import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveConfig } from '../config.js';
import { EngineContext } from '../engine/context.js';
import { Counters } from '../engine/stats.js';
import type { Logger } from '../observability/logger.js';
import type { Scheduler } from '../scheduler.js';
import { type RetryAt, type RetryLabel, retryAfter, retryAt, retryFor } from './retry-for.js';

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

const LABEL: RetryLabel = ['players', 'l2', 'restore-pending'];

describe('retryFor', () => {
  it('waits 100 ms doubling to 2 s on the scheduler until the step succeeds', async () => {
    const { ctx, waits, warnings, fire } = setup();
    let calls = 0;
    const work = retryFor(ctx, async () => ++calls > 7, retryAt(100, 30_000), 2_000, LABEL);
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) delays.push(await fire());
    expect(await work).toBe(true);
    expect(delays).toEqual([100, 200, 400, 800, 1_600, 2_000, 2_000]);
    expect(calls).toBe(8);
    expect(waits).toEqual([]);
    // A step that resolves false counted its own failure: nothing more here.
    expect(ctx.counters.errorsBy.l2).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('counts and logs each thrown failure under its label, a rejection without a reason too', async () => {
    const { ctx, warnings, fire } = setup();
    let calls = 0;
    const work = retryFor(
      ctx,
      () => {
        calls += 1;
        if (calls === 1) return Promise.reject(new Error('down'));
        return calls === 2 ? Promise.reject() : Promise.resolve(true);
      },
      retryAt(100, 30_000),
      2_000,
      LABEL,
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

  it('with maxDelay equal to the first wait, every wait is the same', async () => {
    const { ctx, fire } = setup();
    let calls = 0;
    const work = retryFor(ctx, async () => ++calls > 3, retryAt(100, 5_000), 100, LABEL);
    expect([await fire(), await fire(), await fire()]).toEqual([100, 100, 100]);
    expect(await work).toBe(true);
  });

  it('begins no wait that would end past the bound (the time attempts took included)', async () => {
    const { ctx, waits, fire, turn } = setup();
    const work = retryFor(ctx, async () => false, retryAt(100, 1_000), 100, LABEL);
    // Failures at 0 and, 350 ms spent in each attempt, at 450 and 900: a wait of 100 would end at the bound.
    await fire(350);
    await fire(350);
    await turn();
    expect(waits).toEqual([]);
    expect(await work).toBe(false);
  });

  it('makes no attempt once close began: neither after a wait under way nor a new wait', async () => {
    const { ctx, waits, fire, turn } = setup();
    let calls = 0;
    const step = async () => {
      calls += 1;
      return false;
    };
    const work = retryFor(ctx, step, retryAt(100, 30_000), 2_000, LABEL);
    await turn();
    ctx.closing = true;
    await fire();
    expect(await work).toBe(false);
    expect(calls).toBe(1);
    expect(await retryFor(ctx, step, retryAt(100, 30_000), 2_000, LABEL)).toBe(false);
    expect(calls).toBe(2);
    expect(waits).toEqual([]);
  });

  it('is tracked, its waits too: settled() waits for them', async () => {
    const { ctx, tracked, fire } = setup();
    let calls = 0;
    const work = retryFor(ctx, async () => ++calls > 1, retryAt(100, 30_000), 2_000, LABEL);
    expect(tracked).toContain(work);
    await fire();
    expect(tracked).toHaveLength(2);
    await ctx.settled();
    expect(calls).toBe(2);
  });
});

describe('retryAfter', () => {
  it('resolves the next point after a tracked wait, the failure counted, the bound kept', async () => {
    const { ctx, tracked, fire } = setup();
    const first = retryAt(100, 30_000);
    const next = retryAfter(ctx, new Error('down'), first, 2_000, LABEL);
    expect(tracked).toContain(next);
    expect(await fire()).toBe(100);
    const second = (await next)!;
    expect(second).toEqual<RetryAt>({ delay: 200, until: first.until });
    const third = retryAfter(ctx, new Error('down'), second, 2_000, LABEL);
    expect(await fire()).toBe(200);
    expect((await third)?.delay).toBe(400);
    expect(ctx.counters.errorsBy.l2).toBe(2);
  });

  it('resolves undefined past the bound, once closing, and after a wait during which close began', async () => {
    const { ctx, waits, fire, advance } = setup();
    const near = retryAt(100, 1_000);
    advance(900);
    expect(await retryAfter(ctx, new Error('down'), near, 2_000, LABEL)).toBeUndefined();
    const waiting = retryAfter(ctx, new Error('down'), retryAt(100, 30_000), 2_000, LABEL);
    ctx.closing = true;
    await fire();
    expect(await waiting).toBeUndefined();
    expect(await retryAfter(ctx, new Error('down'), retryAt(100, 30_000), 2_000, LABEL)).toBeUndefined();
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
      const work = retryFor(ctx, async () => ++calls > 1, retryAt(100, 30_000), 2_000, LABEL);
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
