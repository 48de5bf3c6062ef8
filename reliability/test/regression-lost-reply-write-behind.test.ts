import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { createMemoryQueue, defineSchema, isStrataError, type L2Tier, type StrataError } from '@strata/core';
import { createUpstashL2 } from '@strata/core/upstash';
import { type LostReplyProxy, startLostReplyProxy } from '@strata/devstack';
import { serviceUrls, testDevstack } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type TierStack, tierStack } from '../support/stack-tiers.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/**
 * A write-behind set whose script Redis ran, with its reply lost: the link cut after the EVALSHA was
 * written (ioredis), or the HTTP connection dropped as the reply came back (Upstash). Only a timeout
 * counted as an unknown outcome: these were told "nothing written" and their pending row stayed
 * with no queue entry standing for it, read by every instance for a week and never flushed. Failed
 * with (both): expected { a: 'warm', b: 'lost-tcp', …(5) } to deeply equal { a: 'lost-tcp', b:
 * 'lost-tcp', …(5) }: B and a new instance read the lost write, Postgres kept 'warm', and the error
 * had no `details.outcome`. Now any failure that may have come
 * after the script left is an unknown outcome, queued on condition (engine/conditional-writes.ts).
 */
let stack: TierStack;
let http: LostReplyProxy;
let tcp: TcpProxy;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  stack = await tierStack('lost_reply_wb', 'upstash');
  http = await startLostReplyProxy(testDevstack().upstash!.url);
  tcp = await startTcpProxy(Number(new URL(serviceUrls().redisUrl).port || 6379));
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});
afterAll(async () => {
  await http?.close();
  await tcp?.close();
  await stack?.cleanup();
});

const schema = () => defineSchema({ table: stack.tables.accounts, name: 'wb', writeMode: 'write-behind' });

/** A (through `l2`) and B (straight to Redis) on one memory queue; A's next write loses its reply via `lose`. */
async function lostReply(id: string, l2: L2Tier, lose: (marker: string) => void) {
  const wb = schema();
  const queue = createMemoryQueue();
  const open = (tier: L2Tier) => {
    const strata = stack.strata({
      l2: tier,
      schemas: [wb],
      timeouts: { l2: '2s' },
      writeBehind: { queue, threshold: 1_000_000 },
    });
    closers.push(() => strata.close());
    return strata;
  };
  const a = open(l2);
  const b = open(stack.l2());
  await a.set(wb, { id, name: 'warm', level: 0 });
  await a.flushDirty();

  // Only the write's script carries its row.
  const marker = `lost-${id}`;
  lose(marker);
  const err = await a.set(wb, { id, name: marker, level: 1 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isStrataError(err, 'L2_UNAVAILABLE')).toBe(true);
  const { outcome, queued } = (err as StrataError).details ?? {};
  await a.flushDirty();
  await b.flushDirty();
  const fresh = open(stack.l2());
  const rows = {
    a: (await a.find(wb, id))?.name,
    b: (await b.find(wb, id))?.name,
    fresh: (await fresh.find(wb, id))?.name,
    postgres: (await stack.l3Snapshot()).find((r) => r.id === id)?.name,
    pending: await queue.pending(),
    outcome,
    queued,
  };
  expect(rows).toEqual({
    a: marker,
    b: marker,
    fresh: marker,
    postgres: marker,
    pending: 0,
    outcome: 'unknown',
    queued: true,
  });
  expect(a.stats().conditionalDropped).toBe(0);
}

describe('a write-behind script that ran with its reply lost', () => {
  it('Upstash: the fetch throws after the request was sent; the write lands in every tier', async () => {
    const l2 = createUpstashL2({ url: http.url, token: testDevstack().upstash!.token });
    await lostReply('http', l2, (marker) => http.loseRepliesTo(marker));
    expect(http.lost).toBe(1);
  }, 20_000);

  it('ioredis: the link is cut after the EVALSHA was written; the write lands in every tier', async () => {
    const redis = new Redis(tcp.url(serviceUrls().redisUrl), { protocol: 2, maxRetriesPerRequest: 0 });
    redis.on('error', () => {});
    closers.push(async () => redis.disconnect());
    let cut: Promise<void> | undefined;
    await lostReply('tcp', createIoredisL2(redis), (marker) => {
      cut = tcp.trap({
        direction: 'up',
        match: (chunk) => chunk.includes(marker),
        action: 'cut-on-reply',
      });
    });
    await cut;
    expect(tcp.stats().trapsFired).toBe(1);
  }, 20_000);
});
