import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { createMemoryQueue, defineSchema, isStrataError, type StrataError } from '@strata/core';
import { serviceUrls } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingPeeks } from '../support/counting-peeks.js';
import { type TierStack, tierStack } from '../support/stack-tiers.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/**
 * A conditional write-behind write (its script's reply lost) with `timeouts.l2` of 9.5 s: its
 * deadline on Redis' clock is 10.5 s after the send, and the write is queued at once. The flush waited
 * for a deadline at most 10 s away and otherwise let the write come back, so `flushDirty` on a memory
 * queue asked Redis for it back to back until the deadline was within 10 s. Failed with: expected
 * 906 to be less than or equal to 3 (DUE_PEEK requests). Now the wait follows the deadline this
 * instance's L2 timeout gives.
 */
let stack: TierStack;
let tcp: TcpProxy;
beforeAll(async () => {
  stack = await tierStack('far_deadline');
  tcp = await startTcpProxy(Number(new URL(serviceUrls().redisUrl).port || 6379));
});
afterAll(async () => {
  await tcp?.close();
  await stack?.cleanup();
});

describe('a conditional write whose deadline is more than 10 s away', () => {
  it('is settled after one wait, not asked for back to back', async () => {
    const wb = defineSchema({ table: stack.tables.accounts, name: 'wb', writeMode: 'write-behind' });
    const redis = new Redis(tcp.url(serviceUrls().redisUrl), { protocol: 2, maxRetriesPerRequest: 0 });
    redis.on('error', () => {});
    const l2 = countingPeeks(createIoredisL2(redis));
    const queue = createMemoryQueue();
    const strata = stack.strata({
      l2,
      schemas: [wb],
      timeouts: { l2: '9500ms' },
      writeBehind: { queue, threshold: 1_000_000 },
    });
    try {
      await strata.set(wb, { id: 'far', name: 'warm', level: 0 });
      await strata.flushDirty();
      const cut = tcp.trap({ direction: 'up', match: (c) => c.includes('far-lost'), action: 'cut-on-reply' });
      const err = await strata.set(wb, { id: 'far', name: 'far-lost', level: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      await cut;
      expect(isStrataError(err, 'L2_UNAVAILABLE')).toBe(true);
      expect((err as StrataError).details).toMatchObject({ outcome: 'unknown', queued: true });
      const peeks = l2.peeks;
      await strata.flushDirty();
      // One wait for the deadline (~10.5 s), told by the requests: no wall-clock bound (13 s, under
      // 2x the wait, was no hang catcher and CI's load can reach it); the test's 30 s catches a hang.
      expect(l2.peeks - peeks).toBeLessThanOrEqual(3);
      expect((await stack.l3Snapshot()).find((r) => r.id === 'far')?.name).toBe('far-lost');
      expect(await queue.pending()).toBe(0);
    } finally {
      await strata.close();
      redis.disconnect();
    }
  }, 30_000);
});
