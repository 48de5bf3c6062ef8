import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { defineSchema, type InvalidationBus, type Scheduler, Strata } from '../src/index.js';
import { createUpstashLogBus } from '../src/upstash/index.js';
import { drivenScheduler } from '../testing/driven-scheduler.js';
import { type EngineStack, engineStack } from './support/stack.js';

// A log bus poll past its deadline (a Worker's cancelled fetch never settles) holds polling off
// until it settles, or for a bounded number of deadlines (engine/coherence.ts, `#stuck`): reads do not
// queue behind it, a hanging bus costs one read per that many deadlines, and invalidations are
// never off for good. The real log bus over the devstack's Upstash endpoint (real Redis); the reader's
// polls go through a wrapper that can hold a call before it reaches the bus. The bound is on the
// instance's clock (manual here); a poll's own deadline (`timeouts.l2`) is on the timers the host
// lends (`scheduler.after`), driven here: the test ends it, no test waits for it in real time.

const DEADLINE_MS = 100;
const POLL_MS = 50;
/** engine/coherence.ts's STUCK_DEADLINES: how many deadlines a poll past its own may hold polling off. */
const STUCK_DEADLINES = 4;

let stack: EngineStack;
const channel = uniqueName('stuck_poll');
const buses: InvalidationBus[] = [];

beforeAll(async () => {
  stack = await engineStack('stuck_poll');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await new Redis(testDevstack().upstash!).del(channel);
  await stack?.cleanup();
});

function logBus(): InvalidationBus {
  const { url, token } = testDevstack().upstash!;
  const bus = createUpstashLogBus({ url, token, stream: channel });
  buses.push(bus);
  return bus;
}

/**
 * The real log bus, its polls counted; while `hold` is on a poll is held before it reaches the bus
 * (never settling, as a cancelled fetch) until `release` settles it (failed, as a reset connection).
 */
function holdingBus() {
  const bus = logBus();
  const held: (() => void)[] = [];
  const wrapper = {
    polls: 0,
    hold: false,
    release(): void {
      for (const settle of held.splice(0)) settle();
    },
    bus: {
      name: bus.name,
      publish: (inv) => bus.publish(inv),
      subscribe: (handlers) => bus.subscribe(handlers),
      poll: () => {
        wrapper.polls += 1;
        if (!wrapper.hold) return bus.poll!();
        return new Promise<void>((_, reject) => held.push(() => reject(new Error('held poll reset'))));
      },
      stats: () => bus.stats(),
      close: () => bus.close(),
    } satisfies InvalidationBus,
  };
  return wrapper;
}

async function twoInstances(id: string) {
  const schema = defineSchema({ table: stack.tables.players });
  const clock = manualClock(Date.now());
  const open = (bus: InvalidationBus, scheduler?: Scheduler) =>
    new Strata({
      ...(scheduler && { scheduler }),
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      clock,
      timeouts: { l2: DEADLINE_MS },
      coherence: { bus, pollInterval: POLL_MS },
      l1: { maxEntries: 1_000 },
      ttl: { l1: '10m' }, // coherence must come from the bus, not from short TTLs
      schemas: [schema],
    });
  const reading = holdingBus();
  const driven = drivenScheduler();
  const a = open(logBus());
  const b = open(reading.bus, driven.scheduler);
  await a.set(schema, { id, username: id, level: 1 });
  /** B's level of `id` once a poll is due (`advance`, default the poll interval). */
  const read = async (advance = POLL_MS + 1) => {
    clock.advance(advance);
    return (await b.get(schema, id)).level;
  };
  expect(await read()).toBe(1);
  // That poll answered: its deadline was cancelled, not left to run.
  expect(driven.waits).toEqual([]);
  /** A read whose poll hangs: it waits for the poll's deadline, which the test ends, then answers. */
  const readPastDeadline = async (advance?: number) => {
    const answer = read(advance);
    const deadline = await driven.next();
    expect(deadline.ms).toBe(DEADLINE_MS);
    deadline.task();
    return answer;
  };
  const set = (level: number) => a.set(schema, { id, username: id, level });
  const close = async () => {
    reading.release();
    await a.close();
    await b.close();
  };
  return { reading, read, readPastDeadline, set, b, driven, close };
}

describe('a poll past its deadline', () => {
  it('holds polling off for a bounded number of deadlines: a hanging bus costs one read per that many, and an invalidation sent meanwhile is applied after it', async () => {
    const { reading, read, readPastDeadline, set, b, driven, close } = await twoInstances('bounded');
    const polls = reading.polls;
    reading.hold = true;
    await set(2);
    // The due poll hangs: this read waits for it up to its deadline, then answers from L1 (stale, counted).
    expect(await readPastDeadline()).toBe(1);
    expect(reading.polls - polls).toBe(1);
    expect(b.stats().errorsBy.bus).toBeGreaterThanOrEqual(1);
    // Within the bound (STUCK_DEADLINES deadlines from when it timed out), reads poll no more.
    for (
      let elapsed = POLL_MS + 1;
      elapsed + POLL_MS + 1 < STUCK_DEADLINES * DEADLINE_MS;
      elapsed += POLL_MS + 1
    )
      expect(await read()).toBe(1);
    expect(reading.polls - polls).toBe(1);
    expect(driven.waits).toEqual([]);
    // Past it, the next read polls again: still hanging, one more poll for the next bound.
    expect(await readPastDeadline(STUCK_DEADLINES * DEADLINE_MS)).toBe(1);
    expect(reading.polls - polls).toBe(2);
    expect(await read()).toBe(1);
    expect(reading.polls - polls).toBe(2);
    // The bus answers again (the hanging polls never do): after the bound, the invalidation is applied.
    reading.hold = false;
    expect(await read(STUCK_DEADLINES * DEADLINE_MS)).toBe(2);
    expect(reading.polls - polls).toBe(3);
    expect(driven.waits).toEqual([]);
    await close();
  });

  it('that settles (failed) lets polling resume at once, within the bound', async () => {
    const { reading, read, readPastDeadline, set, driven, close } = await twoInstances('settled');
    const polls = reading.polls;
    reading.hold = true;
    expect(await readPastDeadline()).toBe(1);
    expect(await read()).toBe(1);
    expect(reading.polls - polls).toBe(1);
    reading.hold = false;
    reading.release();
    await set(2);
    // Well within the bound: only the settled poll could have let this read poll.
    expect(await read()).toBe(2);
    expect(reading.polls - polls).toBe(2);
    expect(driven.waits).toEqual([]);
    await close();
  });
});
