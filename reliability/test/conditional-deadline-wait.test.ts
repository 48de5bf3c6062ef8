import { once } from 'node:events';
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import {
  createMemoryQueue,
  defineSchema,
  isStrataError,
  type L2Tier,
  type StrataError,
  type WriteQueue,
} from '@strata/core';
import { drivenScheduler } from '@strata/core/testing';
import { serviceUrls } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countingPeeks } from '../support/counting-peeks.js';
import { bounded, type TierStack, tierStack } from '../support/stack-tiers.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/**
 * The flush of a conditional write-behind write (its script's reply never came: engine/conditional-
 * writes.ts) reads Redis' clock and the key's pending entry (DUE_PEEK); while Redis' clock is not past
 * the write's deadline it waits (on the host's scheduler: driven here, each wait's length seen), then
 * asks once more if the wait reached the deadline; still ahead: retried (one ask per wait); L2
 * unreachable: retried and held. Real Redis through a TCP proxy that loses replies or cuts the link;
 * Redis' clock is not ours to move, so where a wait must end past the deadline the test reads Redis'
 * clock until it is (`redisPast`) before ending the wait.
 */
let stack: TierStack;
let tcp: TcpProxy;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  stack = await tierStack('cond_wait');
  tcp = await startTcpProxy(Number(new URL(serviceUrls().redisUrl).port || 6379));
});
afterEach(async () => {
  tcp.refuse(false);
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});
afterAll(async () => {
  await tcp?.close();
  await stack?.cleanup();
});

const schema = () => defineSchema({ table: stack.tables.accounts, name: 'wb', writeMode: 'write-behind' });

/** An ioredis L2 through the proxy, counting the DUE_PEEK requests it is asked to send. */
function proxiedL2(): L2Tier & { peeks: number; ready: () => Promise<void> } {
  const redis = new Redis(tcp.url(serviceUrls().redisUrl), { protocol: 2, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  closers.push(async () => redis.disconnect());
  return Object.assign(countingPeeks(createIoredisL2(redis)), {
    /** Once the client is connected again (after a cut, before asking for a peek that must reach Redis). */
    ready: async () => {
      if (redis.status !== 'ready') await once(redis, 'ready');
    },
  });
}

/** An instance on `queue` whose L2 goes through the proxy and whose one-shot waits the test drives. */
function instance(queue: WriteQueue, l2Timeout: `${number}ms` | `${number}s`) {
  const driven = drivenScheduler();
  const l2 = proxiedL2();
  const strata = stack.strata({
    l2,
    schemas: [schema()],
    scheduler: driven.scheduler,
    timeouts: { l2: l2Timeout },
    writeBehind: { queue, threshold: 1_000_000 },
  });
  closers.push(() => strata.close());
  return { strata, l2, driven };
}

/** Redis' clock, in ms (what DUE_PEEK and ORDERED_PUT's deadline read). */
async function redisMs(): Promise<number> {
  const [s, us] = await stack.redis.time();
  return Number(s) * 1000 + Number(us) / 1000;
}

/**
 * Resolves once Redis' clock is past `until` as a flush judges it (DUE_PEEK's `now` at least `until` + 1:
 * it reads fractions of a ms): read again until it is (what is waited for is Redis' clock itself).
 */
async function redisPast(until: number): Promise<void> {
  for (let now = await redisMs(); now < until + 1; now = await redisMs())
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, until + 1 - now)));
}

/**
 * `id` acknowledged as 'warm' and flushed, then a set of `id` whose script `trap` loses (`cut-on-reply`:
 * Redis ran it; `cut`: Redis never saw it): its error, with the deadline (`details.until`).
 */
async function unknownWrite(
  { strata, l2 }: ReturnType<typeof instance>,
  id: string,
  action: 'cut' | 'cut-on-reply',
) {
  const wb = schema();
  await strata.set(wb, { id, name: 'warm', level: 0 });
  await strata.flushDirty();
  const marker = `${action}-${id}`;
  const trapped = tcp.trap({ direction: 'up', match: (c) => c.includes(marker), action });
  const err = await strata.set(wb, { id, name: marker, level: 1 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  await trapped;
  expect(isStrataError(err, 'L2_UNAVAILABLE')).toBe(true);
  const details = (err as StrataError).details as { outcome: string; queued: boolean; until: number };
  expect(details).toMatchObject({ outcome: 'unknown', queued: true });
  await l2.ready();
  return { marker, until: details.until };
}

const postgresName = async (id: string) => (await stack.l3Snapshot()).find((r) => r.id === id)?.name;

describe("a conditional write's flush waits for its deadline on Redis' clock", () => {
  it('a write that landed (its reply lost): one wait, asked again once, flushed at its version', async () => {
    const queue = createMemoryQueue();
    const app = instance(queue, '200ms');
    const { strata, l2, driven } = app;
    const { marker, until } = await unknownWrite(app, 'landed', 'cut-on-reply');
    const peeks = l2.peeks;
    const flushing = strata.flushDirty();
    const wait = await driven.next();
    // Its deadline, 200 ms + DUE_SLACK_MS after the send, is still ahead: waited for, whole.
    expect(l2.peeks - peeks).toBe(1);
    expect(wait.ms).toBeGreaterThan(0);
    expect(wait.ms).toBeLessThanOrEqual(1_201);
    await redisPast(until);
    wait.task();
    await flushing;
    expect(l2.peeks - peeks).toBe(2);
    expect(driven.waits).toEqual([]);
    expect(await postgresName('landed')).toBe(marker);
    expect((await strata.find(schema(), 'landed'))?.name).toBe(marker);
    expect(await queue.pending()).toBe(0);
    // Decided in the round that took it: never handed back to the queue.
    expect(strata.stats()).toMatchObject({ conditionalDropped: 0, retried: 0 });
  }, 20_000);

  it('a write that never landed: settled as not landed once the deadline passed; the acknowledged row stays', async () => {
    const queue = createMemoryQueue();
    const app = instance(queue, '200ms');
    const { strata, l2, driven } = app;
    const { until } = await unknownWrite(app, 'never', 'cut');
    const peeks = l2.peeks;
    const flushing = strata.flushDirty();
    const wait = await driven.next();
    expect(wait.ms).toBeLessThanOrEqual(1_201);
    await redisPast(until);
    wait.task();
    await flushing;
    expect(l2.peeks - peeks).toBe(2);
    expect(driven.waits).toEqual([]);
    expect(strata.stats()).toMatchObject({ conditionalDropped: 1, retried: 0 });
    expect(await queue.pending()).toBe(0);
    expect(await postgresName('never')).toBe('warm');
    expect((await strata.find(schema(), 'never'))?.name).toBe('warm');
  }, 20_000);

  it('a deadline farther off than the wait: waited for in steps, asked once per step (never twice back to back), retried; L2 down at a peek: held', async () => {
    const queue = createMemoryQueue();
    // The producer's L2 timeout (20 s) puts its deadline 21 s out; the flusher waits 10 s at most.
    const producer = instance(queue, '20s');
    const flusher = instance(queue, '200ms');
    await unknownWrite(producer, 'far', 'cut-on-reply');
    const flushing = flusher.strata.flushDirty().then(
      () => undefined,
      (e: unknown) => e,
    );
    // Each round asks once, waits a whole step (the deadline is farther off: Redis' clock is real,
    // the steps are driven), and leaves the write retried without asking again: the next round's
    // ask is the one after the step. So the asks are as many as the steps begun.
    const STEPS = 3;
    for (let step = 1; step <= STEPS; step++) {
      const wait = await flusher.driven.next();
      expect(wait.ms).toBe(10_000);
      expect(flusher.l2.peeks).toBe(step);
      expect(await postgresName('far')).toBe('warm');
      if (step === STEPS) {
        // L2 down for the next ask: the write is retried and held, so the flush says L2_UNAVAILABLE.
        tcp.refuse(true);
        tcp.cutAll();
      }
      wait.task();
    }
    const err = await flushing;
    expect(err).toMatchObject({ code: 'L2_UNAVAILABLE' });
    expect(flusher.l2.peeks).toBe(STEPS + 1);
    expect(flusher.driven.waits).toEqual([]);
    expect(await queue.pending()).toBe(1);
    // Undecided after each step, then unjudged with L2 down: retried each time, never dropped.
    expect(flusher.strata.stats()).toMatchObject({ conditionalDropped: 0, retried: STEPS + 1 });
    expect(await postgresName('far')).toBe('warm');
    // The test's own leftover (its deadline is 21 s away): taken off the queue so that closing does not wait for it.
    tcp.refuse(false);
    await queue.ack((await queue.take!(10)).map((d) => d.handle));
  }, 20_000);

  it('L2 down during the peek: retried and held (no wait), then settled once L2 is back', async () => {
    const queue = createMemoryQueue();
    const app = instance(queue, '200ms');
    const { strata, l2, driven } = app;
    const { marker, until } = await unknownWrite(app, 'down', 'cut-on-reply');
    const peeks = l2.peeks;
    tcp.refuse(true);
    tcp.cutAll();
    // Bounded: a round that cannot judge the write and does not hold it would take it again at once, for ever.
    const err = await bounded(strata.flushDirty(), 5_000, { hangs: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'L2_UNAVAILABLE' });
    expect(l2.peeks - peeks).toBe(1);
    expect(driven.waits).toEqual([]);
    expect(await queue.pending()).toBe(1);
    expect(await postgresName('down')).toBe('warm');
    tcp.refuse(false);
    await redisPast(until);
    await strata.flushDirty();
    expect(l2.peeks - peeks).toBe(2);
    expect(driven.waits).toEqual([]);
    expect(await postgresName('down')).toBe(marker);
    expect(await queue.pending()).toBe(0);
    expect(strata.stats()).toMatchObject({ conditionalDropped: 0, retried: 1 });
  }, 20_000);
});
