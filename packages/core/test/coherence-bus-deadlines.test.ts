import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { defineSchema, type InvalidationBus, type Scheduler, Strata } from '../src/index.js';
import { createUpstashLogBus } from '../src/upstash/index.js';
import { drivenScheduler } from '../testing/driven-scheduler.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Every bus call the engine makes has the L2 deadline (engine/coherence.ts): the subscription, a
// read waiting for it, each publish, as a log bus poll's. They run on the timers the host lends
// (`scheduler.after`, driven here: the test ends a deadline, no test waits for one in real time),
// and a deadline is cancelled when its call answers in time. The real log bus over the devstack's
// Upstash endpoint (real Redis); its calls go through a wrapper that can hold one before it reaches the bus.

const DEADLINE_MS = 100;
/** Bounds a driven wait that must already have begun: far past a real-time deadline before the fix. */
const BEGUN_MS = 1_000;

let stack: EngineStack;
const channel = uniqueName('bus_deadlines');
const buses: InvalidationBus[] = [];

beforeAll(async () => {
  stack = await engineStack('bus_deadlines');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await new Redis(testDevstack().upstash!).del(channel);
  await stack?.cleanup();
});

/**
 * The real log bus; while `hold` names a call, that call is held before it reaches the bus (never
 * settling, as a cancelled fetch) until `release`: a held subscribe then subscribes, a held publish
 * fails (as a reset connection).
 */
function holdingBus() {
  const { url, token } = testDevstack().upstash!;
  const bus = createUpstashLogBus({ url, token, stream: channel });
  buses.push(bus);
  const held: (() => void)[] = [];
  const wrapper = {
    hold: { subscribe: false, publish: false },
    release(): void {
      for (const settle of held.splice(0)) settle();
    },
    bus: {
      name: bus.name,
      publish: (inv) => {
        if (!wrapper.hold.publish) return bus.publish(inv);
        return new Promise<void>((_, reject) => held.push(() => reject(new Error('held publish reset'))));
      },
      subscribe: (handlers) => {
        if (!wrapper.hold.subscribe) return bus.subscribe(handlers);
        return new Promise<void>((resolve, reject) =>
          held.push(() => bus.subscribe(handlers).then(resolve, reject)),
        );
      },
      poll: () => bus.poll!(),
      stats: () => bus.stats(),
      close: () => bus.close(),
    } satisfies InvalidationBus,
  };
  return wrapper;
}

const schema = () => defineSchema({ table: stack.tables.players });

/** Warnings logged: what failed, and the error's message. */
type Warned = { message: string; error: unknown }[];

function open(bus: InvalidationBus, scheduler: Scheduler, warned: Warned = []) {
  return new Strata({
    scheduler,
    logger: {
      debug() {},
      info() {},
      warn: (message, f) => void warned.push({ message, error: f?.error }),
      error() {},
    },
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    clock: manualClock(Date.now()),
    timeouts: { l2: DEADLINE_MS },
    coherence: { bus, pollInterval: '1h' },
    schemas: [schema()],
  });
}

describe('the subscription', () => {
  it('is bounded on the host timer, as a read waiting for it; both cancelled when it answers in time', async () => {
    const id = uniqueName('sub_in_time');
    const seeded = open(holdingBus().bus, drivenScheduler().scheduler);
    await seeded.set(schema(), { id, username: id, level: 1 });
    const reading = holdingBus();
    reading.hold.subscribe = true;
    const driven = drivenScheduler();
    const b = open(reading.bus, driven.scheduler);
    const subscribing = await driven.next(BEGUN_MS);
    expect(subscribing.ms).toBe(DEADLINE_MS);
    const answer = b.get(schema(), id);
    // The read waits for the subscription another call began on a timer of its own: what is left of the deadline.
    const sharing = await driven.next(BEGUN_MS);
    expect(sharing.ms).toBeGreaterThan(0);
    expect(sharing.ms).toBeLessThanOrEqual(DEADLINE_MS);
    reading.release();
    expect((await answer).level).toBe(1);
    expect(driven.cancelled).toEqual(expect.arrayContaining([subscribing, sharing]));
    // The read's poll answered too: nothing is left on the host's timers.
    expect(driven.waits).toEqual([]);
    expect(b.stats().errorsBy.bus ?? 0).toBe(0);
    await Promise.all([seeded.close(), b.close()]);
  });

  it('past its deadline (the host timer ends it) fails, counted, and the read waiting for it answers', async () => {
    const id = uniqueName('sub_late');
    const reading = holdingBus();
    reading.hold.subscribe = true;
    const driven = drivenScheduler();
    const b = open(reading.bus, driven.scheduler);
    await b.set(schema(), { id, username: id, level: 1 });
    const subscribing = await driven.next(BEGUN_MS);
    expect(subscribing.ms).toBe(DEADLINE_MS);
    const answer = b.get(schema(), id);
    const sharing = await driven.next(BEGUN_MS);
    subscribing.task();
    expect((await answer).level).toBe(1);
    expect(b.stats().errorsBy.bus).toBeGreaterThanOrEqual(1);
    expect(driven.cancelled).toContain(sharing);
    expect(driven.waits).toEqual([]);
    reading.release();
    await b.close();
  });
});

describe('a publish', () => {
  it('is bounded on the host timer: cancelled when the bus answers, and ended by it when the bus hangs', async () => {
    const id = uniqueName('publish');
    const writing = holdingBus();
    const driven = drivenScheduler();
    const warned: Warned = [];
    const b = open(writing.bus, driven.scheduler, warned);
    await b.set(schema(), { id, username: id, level: 1 });
    expect(driven.waits).toEqual([]);
    const cancelled = driven.cancelled.length;
    await b.set(schema(), { id, username: id, level: 2 });
    // The write's publish answered: its deadline began on the host's timer and was cancelled.
    expect(driven.cancelled.slice(cancelled).map((w) => w.ms)).toEqual([DEADLINE_MS]);
    expect(driven.waits).toEqual([]);
    writing.hold.publish = true;
    const held = b.set(schema(), { id, username: id, level: 3 });
    const deadline = await driven.next(BEGUN_MS);
    expect(deadline.ms).toBe(DEADLINE_MS);
    deadline.task();
    await held;
    // The write is committed; its message failed (logged, counted) and is kept for the next bus call.
    expect(warned).toContainEqual({
      message: expect.stringContaining('publish failed'),
      error: `strata: ${writing.bus.name} publish timed out after ${DEADLINE_MS} ms`,
    });
    expect((await b.get(schema(), id)).level).toBe(3);
    writing.hold.publish = false;
    writing.release();
    await b.close();
  });
});
