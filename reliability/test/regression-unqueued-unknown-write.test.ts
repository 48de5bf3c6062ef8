import { createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { defineSchema, isStrataError, type StrataError } from '@strata/core';
import { createUpstashL2 } from '@strata/core/upstash';
import { type LostReplyProxy, startLostReplyProxy } from '@strata/devstack';
import { serviceUrls, testDevstack } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type TierStack, tierStack } from '../support/stack-tiers.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/**
 * A write-behind set whose script ran with its reply lost (Upstash: the fetch throws), while its
 * queue (a Redis Stream on another database, reached through a proxy) is down too: the conditional
 * enqueue fails and the caller is told `queued: false`. Its pending row stood for a week with no
 * queue entry: every instance read the write, Postgres never got it. Failed with: expected
 * 'lost-down' to be 'warm' (a new instance's read, polled for 10 s), and, the queue back, expected
 * 'warm' to be 'lost-back' (Postgres after flushDirty). Now the instance settles the write
 * itself once Redis' clock is past its deadline: queued again at its version if the queue is back,
 * else withdrawn (engine/unqueued-writes.ts).
 */
let stack: TierStack;
let http: LostReplyProxy;
let tcp: TcpProxy;
const queueUrl = new URL(serviceUrls().redisUrl);
queueUrl.pathname = '/1';
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  stack = await tierStack('unqueued_wb', 'upstash');
  http = await startLostReplyProxy(testDevstack().upstash!.url);
  tcp = await startTcpProxy(Number(queueUrl.port || 6379));
});
afterEach(async () => {
  tcp.resume();
  tcp.refuse(false);
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});
afterAll(async () => {
  await http?.close();
  await tcp?.close();
  const raw = new Redis(queueUrl.toString(), { protocol: 2 });
  const keys = await raw.keys(`${stack.name}:*`);
  if (keys.length > 0) await raw.del(...keys);
  raw.disconnect();
  await stack?.cleanup();
});

/**
 * Instance A (its L2 through the lost-reply proxy, its queue through the TCP proxy) and `open` for
 * more instances of the app; with `bus`, all on one bus. `id` is flushed as 'warm'.
 */
async function instances(id: string, bus = false) {
  const wb = defineSchema({ table: stack.tables.accounts, name: 'wb', writeMode: 'write-behind' });
  const queue = createRedisStreamQueue({
    url: tcp.url(queueUrl.toString()),
    keyPrefix: stack.name,
    allowVolatile: true,
  });
  const open = (l2 = stack.l2()) => {
    const strata = stack.strata({
      l2,
      schemas: [wb],
      timeouts: { l2: '1s', queue: '1s' },
      writeBehind: { queue, threshold: 1_000_000 },
      ...(bus && { coherence: { bus: stack.bus() } }),
    });
    closers.push(() => strata.close());
    return strata;
  };
  const a = open(createUpstashL2({ url: http.url, token: testDevstack().upstash!.token }));
  await a.set(wb, { id, name: 'warm', level: 0 });
  await a.flushDirty();
  return { a, wb, open };
}

/** {@link instances}, then A's write of `marker` to `id`: its L2 loses the reply, its queue is down. */
async function lostWithQueueDown(id: string, marker: string, bus = false) {
  const { a, wb, open } = await instances(id, bus);
  tcp.refuse(true);
  tcp.cutAll();
  http.loseRepliesTo(marker);
  const err = await a.set(wb, { id, name: marker, level: 1 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isStrataError(err, 'L2_UNAVAILABLE')).toBe(true);
  expect((err as StrataError).details).toMatchObject({ outcome: 'unknown', queued: false });
  expect(http.lost).toBeGreaterThan(0);
  return { a, wb, open };
}

describe('a write of unknown outcome whose conditional enqueue failed', () => {
  it('the queue still down once decided: withdrawn, every tier keeps the row before it', async () => {
    const { a, wb, open } = await lostWithQueueDown('k-down', 'lost-down');
    // A new instance per read: without a bus, an instance that read the pending row keeps it in L1.
    await expect.poll(async () => (await open().find(wb, 'k-down'))?.name, { timeout: 10_000 }).toBe('warm');
    await expect.poll(async () => (await a.find(wb, 'k-down'))?.name, { timeout: 5_000 }).toBe('warm');
    expect((await stack.l3Snapshot()).find((r) => r.id === 'k-down')?.name).toBe('warm');
    const pending = await stack.redis.hkeys(`${stack.name}:wb:pending`);
    expect(pending.filter((k) => k.includes('k-down'))).toEqual([]);
  }, 30_000);

  it('the queue back before the deadline passed: queued again at its version, and flushed', async () => {
    const { a, wb, open } = await lostWithQueueDown('k-back', 'lost-back');
    tcp.refuse(false);
    // flushDirty waits for the write to be settled, then flushes it.
    await a.flushDirty();
    expect((await stack.l3Snapshot()).find((r) => r.id === 'k-back')?.name).toBe('lost-back');
    expect((await open().find(wb, 'k-back'))?.name).toBe('lost-back');
    expect(a.stats().conditionalDropped).toBe(0);
  }, 30_000);
});

/**
 * A write-behind write withdrawn after its pending row was read: instance B (on the same Redis and
 * bus) read the pending row while it stood, then A withdrew it (its queue refused the write). Nothing
 * was published: B kept the withdrawn value in L1 until its TTL, where Postgres and L2 both had the
 * row before it. Failed with: expected 'refused' to be 'warm' (the refused enqueue, withdrawn at
 * once) and expected 'lost-told' to be 'warm' (a write of unknown outcome whose conditional enqueue
 * failed, withdrawn once decided: engine/unqueued-writes.ts), each polled for BOUND_MS. Now a withdrawal is told as a dead letter is: an invalidation at the withdrawn versions.
 */
/** The staleness bound of the coherence model (races-coherence.test.ts). */
const BOUND_MS = 500;

describe('a withdrawn write-behind write is told to the other instances', () => {
  it('the queue refused the enqueue: B, which read the pending row, reads the row before it', async () => {
    const { a, wb, open } = await instances('k-refused', true);
    const b = open();
    expect((await b.find(wb, 'k-refused'))?.name).toBe('warm');
    // The queue's replies held: the script writes the pending row, the enqueue times out.
    tcp.pause();
    const writing = a.set(wb, { id: 'k-refused', name: 'refused', level: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await expect.poll(async () => (await b.find(wb, 'k-refused'))?.name, { timeout: 5_000 }).toBe('refused');
    expect(isStrataError(await writing, 'QUEUE_UNAVAILABLE')).toBe(true);
    await a.settled();
    // Withdrawn from L2: an instance that never read it reads the row before it.
    expect((await open().find(wb, 'k-refused'))?.name).toBe('warm');
    await expect.poll(async () => (await b.find(wb, 'k-refused'))?.name, { timeout: BOUND_MS }).toBe('warm');
  }, 30_000);

  it('a conditional write withdrawn once decided: B, which read the pending row, reads the row before it', async () => {
    const { a, wb, open } = await lostWithQueueDown('k-lost', 'lost-told', true);
    const b = open();
    await expect.poll(async () => (await b.find(wb, 'k-lost'))?.name, { timeout: 5_000 }).toBe('lost-told');
    // flushDirty waits for the write to be settled (withdrawn: the queue still refuses), then fails to drain.
    await a.flushDirty().catch(() => undefined);
    await a.settled();
    expect((await open().find(wb, 'k-lost'))?.name).toBe('warm');
    await expect.poll(async () => (await b.find(wb, 'k-lost'))?.name, { timeout: BOUND_MS }).toBe('warm');
  }, 60_000);
});
