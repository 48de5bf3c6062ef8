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
 * A write-behind write withdrawn after its pending row was read: instance B (on the same Redis and
 * bus) read the pending row while it stood, then A withdrew it (its queue refused the write). Nothing
 * was published: B kept the withdrawn value in L1 until its TTL (10 minutes here), where Postgres
 * and L2 both had the row before it. Failed with: expected 'refused' to be 'warm' (the refused
 * enqueue, withdrawn at once) and expected 'lost-told' to be 'warm' (a write of unknown outcome whose
 * conditional enqueue failed, withdrawn once decided: engine/unqueued-writes.ts), each polled for
 * BOUND_MS. Now a withdrawal is told as a dead letter is: an invalidation at the withdrawn versions.
 */
/** The staleness bound of the coherence model (races-coherence.test.ts). */
const BOUND_MS = 500;
let stack: TierStack;
let http: LostReplyProxy;
let tcp: TcpProxy;
const queueUrl = new URL(serviceUrls().redisUrl);
queueUrl.pathname = '/1';
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  stack = await tierStack('withdrawn_told', 'upstash');
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

/** A (its L2 through the lost-reply proxy, its queue through the TCP proxy) and B, sharing the bus; `id` flushed as 'warm'. */
async function twoInstances(id: string) {
  const wb = defineSchema({
    table: stack.tables.accounts,
    name: 'wb',
    writeMode: 'write-behind',
    l1: { ttl: '10m' },
  });
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
      coherence: { bus: stack.bus() },
    });
    closers.push(() => strata.close());
    return strata;
  };
  const a = open(createUpstashL2({ url: http.url, token: testDevstack().upstash!.token }));
  const b = open();
  await a.set(wb, { id, name: 'warm', level: 0 });
  await a.flushDirty();
  expect((await b.find(wb, id))?.name).toBe('warm');
  return { a, b, wb, open };
}

describe('a withdrawn write-behind write is told to the other instances', () => {
  it('the queue refused the enqueue: B, which read the pending row, reads the row before it', async () => {
    const { a, b, wb, open } = await twoInstances('k-refused');
    // The queue's replies held: the script writes the pending row, the enqueue times out.
    tcp.pause();
    const writing = a.set(wb, { id: 'k-refused', name: 'refused', level: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await expect.poll(async () => (await b.find(wb, 'k-refused'))?.name, { timeout: 5_000 }).toBe('refused');
    const err = await writing;
    expect(isStrataError(err, 'QUEUE_UNAVAILABLE')).toBe(true);
    await a.settled();
    // Withdrawn from L2: an instance that never read it reads the row before it.
    expect((await open().find(wb, 'k-refused'))?.name).toBe('warm');
    await expect.poll(async () => (await b.find(wb, 'k-refused'))?.name, { timeout: BOUND_MS }).toBe('warm');
  }, 30_000);

  it('a conditional write withdrawn once decided: B, which read the pending row, reads the row before it', async () => {
    const { a, b, wb, open } = await twoInstances('k-lost');
    tcp.refuse(true);
    tcp.cutAll();
    http.loseRepliesTo('lost-told');
    const err = await a.set(wb, { id: 'k-lost', name: 'lost-told', level: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStrataError(err, 'L2_UNAVAILABLE')).toBe(true);
    expect((err as StrataError).details).toMatchObject({ outcome: 'unknown', queued: false });
    await expect.poll(async () => (await b.find(wb, 'k-lost'))?.name, { timeout: 5_000 }).toBe('lost-told');
    // flushDirty waits for the write to be settled (withdrawn: the queue still refuses), then fails to drain.
    await a.flushDirty().catch(() => undefined);
    expect(a.stats().errorsBy.queue).toBeGreaterThan(1);
    await a.settled();
    expect((await open().find(wb, 'k-lost'))?.name).toBe('warm');
    await expect.poll(async () => (await b.find(wb, 'k-lost'))?.name, { timeout: BOUND_MS }).toBe('warm');
  }, 60_000);
});
