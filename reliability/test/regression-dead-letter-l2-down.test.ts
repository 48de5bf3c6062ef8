import {
  createIoredisL2,
  createRedisStreamQueue,
  type RedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { type Logger, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, type FaultScratch, faultScratch, settleBy } from '../support/fault-harness.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// A write-behind write Postgres refuses for good (a CHECK constraint) failed its last try in a
// consumer whose L2 was unreachable (the queue's Redis still answering). The flusher dead-lettered
// it and the stream entry went, while the withdrawal of its cached copy (`cache.drop`, and its
// pending-index entry) was only remembered by that process, for its next use of L2: a process that
// never uses L2 again (it stops, or crashes) leaves the row Postgres never had in L2, where every
// other instance reads it for its TTL and every search lays it. Before the fix:
//   AssertionError: an instance started now reads Postgres: expected { id: 'p1', n: 500, label: 'phantom' } to be null
// (the entry acked, a dead letter written, flushDirty resolving). Now the delivery stays in the
// stream, held (flushDirty: L2_UNAVAILABLE), until L2 takes the withdrawal; dead-lettered then.

const MAX_RETRY = 2;
let store: FaultScratch;
let proxy: TcpProxy;
const clients: Redis[] = [];
const instances: Strata[] = [];

beforeAll(async () => {
  store = await faultScratch('dl_l2down');
  // Passes every client check; Postgres refuses it at the flush (23514): poison by evidence.
  await store.pool.query(`alter table "${store.name}".items add constraint n_below_100 check (n < 100)`);
  proxy = await startTcpProxy(Number(new URL(store.redisUrl).port || 6379));
});
afterEach(async () => {
  proxy.refuse(false);
  await Promise.allSettled(instances.splice(0).map((s) => s.close()));
  for (const c of clients.splice(0)) c.disconnect();
});
afterAll(async () => {
  await proxy?.close();
  await store?.cleanup();
});

/** A Redis client, through the proxy or straight to the store's Redis, that reconnects quickly. */
function client(through: 'proxy' | 'direct'): Redis {
  const url = through === 'proxy' ? proxy.url(store.redisUrl) : store.redisUrl;
  const c = new Redis(url, { maxRetriesPerRequest: 0, protocol: 2, retryStrategy: () => 50 });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

function instance(l2: Redis, queue: RedisStreamQueue, logger?: Logger): Strata {
  const strata = new Strata({
    l2: createIoredisL2(l2),
    l3: createDrizzleL3(store.db, { migrationsSchema: store.name }),
    keyPrefix: store.name,
    timeouts: { l2: 250, l3: '5s', queue: '1s' },
    // Never open: the withdrawal is tried as soon as L2 answers again.
    breaker: { failureThreshold: 1_000 },
    writeBehind: { queue, maxRetry: MAX_RETRY },
    schemas: [store.schema('write-behind')],
    ...(logger && { logger }),
  });
  instances.push(strata);
  return strata;
}

function streamQueue(): RedisStreamQueue {
  // The test Redis keeps nothing on disk: allowVolatile.
  return createRedisStreamQueue({
    redis: client('direct'),
    keyPrefix: store.name,
    allowVolatile: true,
    claimIdleMs: 200,
  });
}

describe("a write dead-lettered while the consumer's L2 is down", () => {
  it('stays in the stream until L2 withdraws its copy, then is dead-lettered; no instance reads it meanwhile', async () => {
    const schema = store.schema('write-behind');
    const logged: [string, Record<string, unknown> | undefined][] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn: (message, fields) => void logged.push([message, fields]),
      error: (message, fields) => void logged.push([message, fields]),
    };
    const producer = instance(client('direct'), streamQueue());
    const queue = streamQueue();
    const l2 = client('proxy');
    const consumer = instance(l2, queue, logger);
    expect(await consumer.find(schema, 'warm')).toBeNull(); // a consumer that has used its L2

    await producer.set(schema, { id: 'p1', n: 500, label: 'phantom' }); // acknowledged, queued, in L2
    // L2 unreachable from the consumer: open connections reset, new ones refused.
    proxy.refuse(true);
    proxy.cutAll();
    const drained = await settleBy(consumer.flushDirty(), 5_000);
    expect(await store.stored()).toEqual(new Map()); // Postgres refused it

    // Either still queued (retried until its copy is gone), or no instance reads a copy.
    const fresh = instance(client('direct'), streamQueue());
    const dead = await queue.deadLetters();
    if (dead.length > 0)
      expect(await fresh.find(schema, 'p1'), 'an instance started now reads Postgres').toBeNull();
    expect(dead).toEqual([]);
    expect(await queue.pending(), 'the stream keeps the write').toBe(1);
    expect(codeOf(drained)).toBe('L2_UNAVAILABLE');
    expect(logged).toContainEqual([
      'write-behind: dead letter waits for L2 to withdraw its cached copy',
      { schema: schema.name, id: 'p1', attempts: MAX_RETRY },
    ]);
    expect(consumer.stats().errorsBy.l2).toBeGreaterThan(0);
    expect(logged.some(([m]) => m === 'write-behind: dead-lettered')).toBe(false);

    // L2 back: the next flush withdraws the copy (everywhere), then dead-letters the write.
    proxy.refuse(false);
    if (l2.status !== 'ready') await new Promise<void>((resolve) => l2.once('ready', () => resolve()));
    await consumer.flushDirty();
    expect((await queue.deadLetters()).map((d) => [d.write?.id, d.attempts])).toEqual([
      ['p1', MAX_RETRY + 1],
    ]);
    expect(await queue.pending()).toBe(0);
    expect(await instance(client('direct'), streamQueue()).find(schema, 'p1')).toBeNull();
    expect(await consumer.find(schema, 'p1')).toBeNull();
    expect(await store.stored()).toEqual(new Map());
  });
});
