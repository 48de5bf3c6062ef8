import { createIoredisL2, createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { type L2Tier, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, type FaultScratch, faultScratch, settleBy, Tally } from '../support/fault-harness.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

// A write-behind set made while instance A's Redis connection is down waits in the client's
// offline queue. A gives up at its L2 timeout and tells the caller nothing was written; B then
// writes the same key and is acknowledged. When A's connection comes back, the client would send
// what it queued: A's script takes a version newer than B's and its older row wins everywhere,
// Postgres included. The L2 must not send a script after its caller's deadline.

const DEADLINE = 5_000;
/** The next `event` of `redis` (events.once would reject on the 'error' events a cut connection emits). */
const next = (redis: Redis, event: string) =>
  new Promise<void>((resolve) => redis.once(event, () => resolve()));
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

describe('a script queued while the connection is down', () => {
  let store: FaultScratch;
  beforeAll(async () => {
    store = await faultScratch('reg_late_script');
  });
  afterAll(async () => {
    await store?.cleanup();
  });

  it('is not sent once its caller gave up: the write acknowledged meanwhile stays the newest', async () => {
    const t = new Tally('faults', 'redis: a write-behind script queued while disconnected, the caller gone');
    const proxy = await startTcpProxy(Number(new URL(store.redisUrl).port || 6379));
    closers.push(() => proxy.close());
    // A's L2 connection goes through the proxy and tries to reconnect every 1.5 s.
    const viaProxy = new Redis(proxy.url(store.redisUrl), {
      protocol: 2,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 1_500,
    });
    viaProxy.on('error', () => {});
    closers.push(async () => viaProxy.disconnect());
    const schema = store.schema('write-behind');
    const open = (l2: L2Tier) => {
      const strata = new Strata({
        l2,
        l3: createDrizzleL3(store.db, { migrationsSchema: store.name }),
        keyPrefix: store.name,
        timeouts: { l2: '200ms' },
        writeBehind: {
          queue: createRedisStreamQueue({
            url: store.redisUrl,
            keyPrefix: store.name,
            allowVolatile: true,
          }),
        },
        schemas: [schema],
      });
      closers.push(() => strata.close());
      return strata;
    };
    const a = open(createIoredisL2(viaProxy));
    const b = open(createIoredisL2(store.redisUrl));
    const k = 'late-script';
    expect(codeOf(await t.run(a.set(schema, { id: k, n: 0, label: 'warm' }), DEADLINE))).toBe('OK');

    // A's connection drops and cannot come back yet.
    proxy.refuse(true);
    const reconnecting = next(viaProxy, 'reconnecting');
    proxy.cutAll();
    t.fault();
    await reconnecting;
    const refused = await t.run(a.set(schema, { id: k, n: 1, label: 'refused' }), DEADLINE);
    expect(codeOf(refused)).toBe('L2_UNAVAILABLE');
    // Known not sent (the connection was not back by the deadline), not an unknown outcome: no
    // conditional write queued for a script that never left (it was, when the caller's deadline
    // came before the tier's refusal).
    const details = 'error' in refused ? (refused.error as { details?: { outcome?: unknown } }).details : {};
    expect(details?.outcome, 'outcome').toBeUndefined();

    // B writes the key and is acknowledged; then A's connection comes back.
    expect(codeOf(await t.run(b.set(schema, { id: k, n: 2, label: 'acked' }), DEADLINE))).toBe('OK');
    t.acked(k, 2);
    proxy.refuse(false);
    await next(viaProxy, 'ready');
    // Anything the client held has been sent before this reply comes back.
    expect(await settleBy(viaProxy.ping(), DEADLINE)).toEqual({ ok: true, value: 'PONG' });

    // Before the flush, L2 is what a new instance reads: B's row.
    expect((await open(createIoredisL2(store.redisUrl)).get(schema, k)).n).toBe(2);
    await b.flushDirty();
    await a.flushDirty();
    const stored = await store.stored();
    expect(stored.get(k)).toBe(2);
    expect((await open(createIoredisL2(store.redisUrl)).get(schema, k)).n).toBe(2);
    t.finish({ writesFound: t.found(stored) });
    expect(t.found(stored)).toBe(1);
  }, 20_000);
});
