import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { codeOf, type FaultScratch, faultScratch, settleBy } from '../support/fault-harness.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

// Helper "huntpg": A's Postgres is frozen (a TCP proxy holds every byte) when a write times out.
// Its statement still runs as far as A knows, so A drops the key's copies again once it settles
// (`LateWrite`). A statement held in the network never settles, and close() waited for that watch
// among its deferred work: close (and createStrata's shutdown, which awaits it) never returned.
// Now a close stops watching: it drops and tells the keys once more at once, and returns within
// its own timeouts. B (a direct pool) read the old row back between the timeout and the close;
// once the held statement lands, B reads what Postgres holds.

const L3_TIMEOUT = 300;
const cleanups: (() => Promise<unknown>)[] = [];
let store: FaultScratch;

beforeAll(async () => {
  store = await faultScratch('reg_close_late');
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(async () => {
  await store?.cleanup();
});

function instance(db: ReturnType<typeof drizzle>, schema: ReturnType<FaultScratch['schema']>) {
  const strata = new Strata({
    l2: createIoredisL2(store.redisUrl),
    l3: createDrizzleL3(db, { migrationsSchema: store.name }),
    coherence: { bus: createRedisPubSubBus({ url: store.redisUrl, channel: `${store.name}:bus` }) },
    keyPrefix: store.name,
    ttl: { l1: '10m', l2: '10m' },
    timeouts: { l3: L3_TIMEOUT },
    schemas: [schema],
  });
  cleanups.push(() => strata.close());
  return strata;
}

describe('close() while a timed-out write is held in the network', () => {
  for (const kind of ['set', 'tx'] as const)
    it(`${kind}: close returns within its timeouts, and every tier then agrees with Postgres`, async () => {
      const schema = store.schema();
      const proxy = await startTcpProxy(Number(new URL(store.databaseUrl).port || 5432));
      const pool = new pg.Pool({ connectionString: proxy.url(store.databaseUrl), max: 2 });
      pool.on('error', () => {});
      pool.on('connect', (client) => client.on('error', () => {}));
      cleanups.push(() => pool.end());
      const a = instance(drizzle(pool), schema);
      const b = instance(store.db, schema);
      // First of the cleanups: what the proxy holds is reset, so nothing waits for it.
      cleanups.push(() => proxy.close());
      const id = `late-${kind}`;
      for (const s of [a, b]) await s.find(schema, 'warm-up'); // subscribed before the first write
      await a.set(schema, { id, n: 1 });

      proxy.pause();
      const write: Promise<unknown> =
        kind === 'set'
          ? a.set(schema, { id, n: 2 })
          : a.tx().set(schema, { id, n: 2 }).delete(schema, `${id}-other`).commit();
      expect(codeOf(await settleBy(write, 3_000))).toBe(kind === 'set' ? 'L3_UNAVAILABLE' : 'TX_TIMEOUT');
      // B reads the old row back from Postgres (the held statement has not reached it).
      expect((await b.get(schema, id)).n).toBe(1);

      const closed = await settleBy(a.close(), 5_000);
      expect(codeOf(closed), 'close() returned').toBe('OK');
      // Returned with the statement still held: close() waited for no answer from Postgres (a
      // wall-clock bound here broke under CI's load; the 5 s settle above only catches a hang).
      expect(proxy.queued, 'the statement still held in the proxy').toBeGreaterThan(0);

      // The held statement lands now (a set commits; a transaction whose session Postgres may have
      // ended meanwhile does not): whichever, B then reads what Postgres holds, from no stale copy.
      proxy.resume();
      await vi.waitFor(() => expect(pool.totalCount - pool.idleCount).toBe(0), {
        timeout: 5_000,
        interval: 20,
      });
      const stored = (await store.stored()).get(id);
      if (kind === 'set') expect(stored).toBe(2);
      expect((await b.get(schema, id)).n).toBe(stored);
    });
});
