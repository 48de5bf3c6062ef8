import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FaultScratch, faultScratch } from '../support/fault-harness.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// Two instances of one app on the real Redis pub/sub bus. Instance A reaches the bus only through a
// loopback TCP proxy; cut, A keeps what it could not publish, and past 100 kept messages they
// collapse into one "everything of this schema" message each, tag moves into one for the app's tags
// (`*tags:{keyPrefix}`). Before the fix no receiver took that one: B kept serving from L1 a row
// whose tag had moved (the point of `invalidateTags` after an update Strata did not make).

let store: FaultScratch;
let proxy: TcpProxy;
const instances: Strata[] = [];

beforeAll(async () => {
  store = await faultScratch('tagkeys_collapse');
  proxy = await startTcpProxy(Number(new URL(store.redisUrl).port || 6379));
});
afterAll(async () => {
  proxy?.refuse(false);
  await Promise.allSettled(instances.map((s) => s.close()));
  await proxy?.close();
  await store?.cleanup();
});

const schema = () =>
  defineSchema({
    table: store.table,
    name: store.name,
    tags: (row: { label: string | null }) => [`label:${row.label}`],
  });

function instance(s: ReturnType<typeof schema>, busUrl: string): Strata {
  const strata = new Strata({
    l2: createIoredisL2(store.redisUrl),
    l3: createDrizzleL3(store.db, { migrationsSchema: store.name }),
    keyPrefix: store.name,
    ttl: { l1: '10m' },
    background: 'await',
    // No offline queue: while the link is cut a publish fails at once (and is kept), never waits.
    coherence: {
      bus: createRedisPubSubBus({
        url: busUrl,
        channel: `${store.name}:bus`,
        redisOptions: { enableOfflineQueue: false },
      }),
    },
    schemas: [s],
  });
  instances.push(strata);
  return strata;
}

it('a tag move collapsed with more than 100 unsent messages still drops the tagged rows from the other L1s', async () => {
  const s = schema();
  const a = instance(s, proxy.url(store.redisUrl));
  const b = instance(s, store.redisUrl);
  await a.set(s, { id: 'r1', n: 1, label: 'x' });
  expect((await b.find(s, 'r1'))?.n).toBe(1); // now in B's L1
  await b.settled();
  // A change Strata did not make, then the tag move meant to drop every cached copy of it.
  await store.pool.query(`update "${store.name}".items set n = 2 where id = 'r1'`);

  proxy.refuse(true);
  proxy.cutAll();
  await a.invalidateTags(['label:x']);
  for (let i = 0; i < 100; i++) await a.invalidateTags([`other:${i}`]);
  expect(a.stats().errorsBy.l2 ?? 0).toBeGreaterThanOrEqual(101); // each publish failed, kept
  proxy.refuse(false);

  // A publishes again once its link is back: what it kept goes first, the sentinel after it.
  const heard = b.stats().invalidationsApplied;
  await expect
    .poll(
      async () => {
        await a.invalidateTags(['sentinel']);
        return b.stats().invalidationsApplied;
      },
      { timeout: 10_000, interval: 100 },
    )
    .toBeGreaterThan(heard);
  expect((await b.find(s, 'r1'))?.n, "B's L1 copy went with the collapsed tag move").toBe(2);
});
