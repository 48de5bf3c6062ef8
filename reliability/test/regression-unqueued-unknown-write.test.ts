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

/** Instance A (its L2 losing the reply to the write of `marker` to `id`, its queue about to go down), B and a later C. */
async function lostWithQueueDown(id: string, marker: string) {
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
    });
    closers.push(() => strata.close());
    return strata;
  };
  const a = open(createUpstashL2({ url: http.url, token: testDevstack().upstash!.token }));
  await a.set(wb, { id, name: 'warm', level: 0 });
  await a.flushDirty();

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
