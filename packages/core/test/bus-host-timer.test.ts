import { freePort } from '@strata/devstack';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { encodeInvalidation } from '../src/bus/message.js';
import type { BusHandlers } from '../src/bus/types.js';
import { hostTimer } from '../src/resilience/wait.js';
import { createUpstashLogBus, createUpstashSseBus } from '../src/upstash/index.js';
import { drivenScheduler } from '../testing/driven-scheduler.js';
import { busProbe, receivedIds, sampleInvalidation } from '../testing/index.js';

// A bus's own deadlines and waits (the Upstash SSE bus's subscribe confirmation and reconnect
// backoff, the log bus's bound on a shared poll) run on the timer the engine hands it with its
// handlers (`BusHandlers.timer`: the host's `scheduler.after` when it lends one), driven here, and
// are cancelled when what they bound ends first. Real Redis behind the devstack's Upstash endpoint;
// a refused connection is a free port nothing listens on.

const admin = new Redis({ ...testDevstack().upstash! });
const channels: string[] = [];
afterAll(async () => {
  await Promise.all(channels.map((c) => admin.del(c)));
});

function upstash(): { url: string; token: string } {
  return testDevstack().upstash!;
}

function handlers(driven: ReturnType<typeof drivenScheduler>): BusHandlers {
  return { message: () => {}, gap: () => {}, timer: hostTimer({ config: { scheduler: driven.scheduler } }) };
}

describe('upstash sse bus on the host timer', () => {
  it('bounds the subscribe confirmation on it, cancelled once confirmed', async () => {
    const driven = drivenScheduler();
    const bus = createUpstashSseBus({
      ...upstash(),
      channel: uniqueName('sse_timer'),
      connectTimeoutMs: 2_000,
    });
    const subscribing = bus.subscribe(handlers(driven));
    // Begun with the request, before it answered.
    expect(driven.waits.map((w) => w.ms)).toEqual([2_000]);
    await subscribing;
    expect(driven.waits).toEqual([]);
    expect(driven.cancelled.map((w) => w.ms)).toEqual([2_000]);
    await bus.close();
  });

  it("keeps a confirmed subscription when a host's timer cannot cancel: its deadline runs late, as a no-op", async () => {
    // A host `after` that returns no cancel (valid: see `Scheduler.after`) runs every task; the test runs them.
    const tasks: (() => void)[] = [];
    const timer = hostTimer({
      config: { scheduler: { every: () => () => {}, after: (_, task) => void tasks.push(task) } },
    });
    const channel = uniqueName('sse_no_cancel');
    const bus = createUpstashSseBus({ ...upstash(), channel });
    const seen = busProbe();
    await bus.subscribe({ ...seen, timer });
    for (const task of tasks.splice(0)) task();
    await admin.publish(channel, encodeInvalidation(sampleInvalidation('after-deadline')));
    await vi.waitFor(() => expect(receivedIds(seen)).toEqual(['after-deadline']), {
      timeout: 2_000,
      interval: 10,
    });
    expect(seen.gaps).toBe(0);
    await bus.close();
  });

  it('waits out its reconnect backoff on it; close() cancels the wait', async () => {
    const driven = drivenScheduler();
    const connectMs = 2_000;
    /** The next backoff begun: an attempt's confirmation deadline (cancelled when it was refused) passed over. */
    const nextBackoff = async () => {
      for (;;) {
        const wait = await driven.next(1_000);
        if (wait.ms !== connectMs) return wait;
      }
    };
    const refused = `http://127.0.0.1:${await freePort()}`;
    const bus = createUpstashSseBus({
      url: refused,
      token: 'token',
      channel: uniqueName('sse_backoff'),
      connectTimeoutMs: connectMs,
      reconnectDelayMs: { min: 100, max: 100 },
    });
    await expect(bus.subscribe(handlers(driven))).rejects.toMatchObject({ code: 'L2_UNAVAILABLE' });
    const backoff = await nextBackoff();
    // Equal jitter: half of the 100 ms fixed, half random.
    expect(backoff.ms).toBeGreaterThanOrEqual(50);
    expect(backoff.ms).toBeLessThanOrEqual(100);
    backoff.task();
    // The next attempt is refused too: another backoff on the host timer.
    const again = await nextBackoff();
    expect(again.ms).toBeGreaterThanOrEqual(50);
    expect(again.ms).toBeLessThanOrEqual(100);
    // Each refused attempt's confirmation deadline was cancelled, not left to run.
    expect(driven.cancelled.filter((w) => w.ms === connectMs)).toHaveLength(2);
    const cancelled = driven.cancelled.length;
    await bus.close();
    expect(driven.cancelled.slice(cancelled)).toEqual([again]);
    expect(driven.waits).toEqual([]);
  });
});

describe('upstash log bus on the host timer', () => {
  it('bounds a poll sharing the one in flight on it, cancelled when that one answers', async () => {
    const driven = drivenScheduler();
    const stream = uniqueName('log_timer');
    channels.push(stream);
    const bus = createUpstashLogBus({ ...upstash(), stream });
    await bus.subscribe(handlers(driven));
    const first = bus.poll!();
    const second = bus.poll!();
    expect(driven.waits).toHaveLength(1);
    const [sharing] = driven.waits;
    await Promise.all([first, second]);
    expect(driven.waits).toEqual([]);
    expect(driven.cancelled).toEqual([sharing]);
    await bus.close();
  });
});
