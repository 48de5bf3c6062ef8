import { createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import {
  createMemoryQueue,
  defineSchema,
  isStrataError,
  type StrataError,
  type WriteQueue,
} from '@strata/core';
import { createUpstashL2 } from '@strata/core/upstash';
import { serviceUrls, testDevstack } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ORDERED_PUT, ORDERED_PUT_ENQUEUE } from '../../packages/core/src/l2/scripts.js';
import { reorderSuite, runsScript } from '../support/reorder-suite.js';

/**
 * The HTTP form of regression-late-script.test.ts: a write-behind set whose script is sent in time
 * but reaches Redis late (held on the wire past its caller's L2 deadline). The caller was told
 * L2_UNAVAILABLE (nothing written); another instance then writes the key and is acknowledged. When
 * the held script reaches Redis it must not take a version above that acknowledged write.
 */
const orderedPut = runsScript([ORDERED_PUT, ORDERED_PUT_ENQUEUE]);

describe('a write-behind script that reaches Redis after its caller gave up', () => {
  const suite = reorderSuite('reorder_wb');

  it('does not put its row over a write acknowledged meanwhile', async () => {
    const schema = defineSchema({
      table: suite.stack.tables.accounts,
      name: 'wb',
      writeMode: 'write-behind',
    });
    const queue = createMemoryQueue();
    const make = (url: string) => {
      const strata = suite.stack.strata({
        l2: createUpstashL2({ url, token: testDevstack().upstash!.token }),
        schemas: [schema],
        timeouts: { l2: '300ms' },
        writeBehind: { queue, threshold: 1_000_000 },
      });
      suite.opened.push(strata);
      return strata;
    };
    const a = make(suite.proxy.url);
    const b = make(testDevstack().upstash!.url);
    await a.set(schema, { id: 'k', name: 'warm', level: 0 });
    await a.flushDirty();

    const held = suite.proxy.gate('request', orderedPut, 1);
    const refused = await a.set(schema, { id: 'k', name: 'refused', level: 1 }).then(
      () => 'OK',
      (err: unknown) => (isStrataError(err) ? err.code : String(err)),
    );
    expect(refused).toBe('L2_UNAVAILABLE');
    expect(held.held()).toBe(1);
    await b.set(schema, { id: 'k', name: 'acked', level: 2 });
    // The held script reaches Redis now, and Redis answers it.
    held.open();
    await expect.poll(() => held.replies().length).toBe(1);
    await a.flushDirty();
    await b.flushDirty();

    const fresh = make(testDevstack().upstash!.url);
    const rows = {
      a: (await a.find(schema, 'k'))?.name,
      b: (await b.find(schema, 'k'))?.name,
      fresh: (await fresh.find(schema, 'k'))?.name,
      postgres: (await suite.stack.l3Snapshot()).find((r) => r.id === 'k')?.name,
    };
    expect(rows).toEqual({ a: 'acked', b: 'acked', fresh: 'acked', postgres: 'acked' });
  });
  /**
   * With a queue that is not part of the L2 script (the memory queue here; Cloudflare Queues on
   * Workers, any queue but a Redis stream on the L2's Redis) the write is enqueued after ORDERED_PUT's
   * reply. A script held on the wire past its caller's L2 deadline, or run in time with its reply
   * held, left a pending row no queue entry stood for: every other instance read it (pending rows are
   * kept a week) and no flush took it to Postgres. Failed with: expected { a: 'warm', b: 'refused',
   * fresh: 'refused', postgres: 'warm' } to deeply equal { a: 'warm', b: 'warm', fresh: 'warm',
   * postgres: 'warm' }. Now the script carries a deadline on Redis' clock, and the timed-out write
   * is queued on condition (engine/conditional-writes.ts): every tier agrees, whichever happened.
   */
  const alone = async (
    id: string,
    at: 'request' | 'reply',
    expected: string,
    queue: WriteQueue = createMemoryQueue(),
  ) => {
    const schema = defineSchema({
      table: suite.stack.tables.accounts,
      name: 'wb',
      writeMode: 'write-behind',
    });
    const make = (url: string) => {
      const strata = suite.stack.strata({
        l2: createUpstashL2({ url, token: testDevstack().upstash!.token }),
        schemas: [schema],
        timeouts: { l2: '300ms' },
        writeBehind: { queue, threshold: 1_000_000 },
      });
      suite.opened.push(strata);
      return strata;
    };
    const a = make(suite.proxy.url);
    const b = make(testDevstack().upstash!.url);
    await a.set(schema, { id, name: 'warm', level: 0 });
    await a.flushDirty();

    const held = suite.proxy.gate(at, orderedPut, 1);
    const err = await a.set(schema, { id, name: 'refused', level: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStrataError(err, 'L2_UNAVAILABLE')).toBe(true);
    const details = (err as StrataError).details!;
    expect(details).toMatchObject({ outcome: 'unknown', queued: true });
    expect((err as Error).message).toMatch(/outcome is unknown/);
    expect(held.held()).toBe(1);
    // A held request reaches Redis only once Redis' clock is past the write's deadline.
    if (at === 'request')
      await expect.poll(() => redisNow(), { timeout: 5_000 }).toBeGreaterThan(details.until as number);
    held.open();
    await expect.poll(() => held.replies().length).toBe(1);
    // ORDERED_PUT's status: -6 refused past its deadline, 0 written.
    expect((JSON.parse(held.replies()[0]!) as { result: unknown[] }).result[1]).toBe(
      at === 'request' ? -6 : 0,
    );
    await a.flushDirty();
    await b.flushDirty();

    const fresh = make(testDevstack().upstash!.url);
    const rows = {
      a: (await a.find(schema, id))?.name,
      b: (await b.find(schema, id))?.name,
      fresh: (await fresh.find(schema, id))?.name,
      postgres: (await suite.stack.l3Snapshot()).find((r) => r.id === id)?.name,
    };
    expect(rows).toEqual({ a: expected, b: expected, fresh: expected, postgres: expected });
    return { a, queue };
  };
  const redisNow = async () => {
    const [s, us] = await suite.stack.redis.time();
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  };

  it('alone, its request held past the deadline: Redis refuses it, and every tier keeps the row before it', async () => {
    const { a, queue } = await alone('k2', 'request', 'warm');
    expect(a.stats().conditionalDropped).toBe(1);
    expect(await queue.pending()).toBe(0);
  });

  it('alone, its reply held: the write landed, and the flush takes it to Postgres; every tier agrees', async () => {
    const { a, queue } = await alone('k3', 'reply', 'refused');
    expect(a.stats().conditionalDropped).toBe(0);
    expect(await queue.pending()).toBe(0);
  });

  it('alone, with a Redis Stream queue on another database (not in the script): as with the memory queue', async () => {
    // Database 1 of the same Redis: not the L2's (the colocation check reads the queue's marker through L2).
    const url = new URL(serviceUrls().redisUrl);
    url.pathname = '/1';
    const keyPrefix = suite.stack.name;
    const queue = createRedisStreamQueue({ url: url.toString(), keyPrefix, allowVolatile: true });
    try {
      for (const [id, at, expected] of [
        ['k4', 'request', 'warm'],
        ['k5', 'reply', 'refused'],
      ] as const)
        await alone(id, at, expected, queue);
      expect(await queue.pending()).toBe(0);
    } finally {
      await Promise.allSettled(suite.opened.splice(0).map((s) => s.close()));
      const raw = new Redis(url.toString(), { protocol: 2 });
      const keys = await raw.keys(`${keyPrefix}:*`);
      if (keys.length > 0) await raw.del(...keys);
      raw.disconnect();
    }
  });
});
