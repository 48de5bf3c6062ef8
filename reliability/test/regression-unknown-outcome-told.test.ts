import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { codeOf, type FaultScratch, faultScratch, settleBy } from '../support/fault-harness.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

// Helper "huntpg" (probe of seeded Postgres cuts, write-through seeds 5 and 9): A's write reaches
// Postgres and commits, and the connection is cut before its reply comes back. A cannot know the
// outcome, so it dropped the keys' copies in its L1 and in L2 — but told no other instance, and B
// kept answering its L1 copy of the old row (10 min TTL) while Postgres held A's. Now an unknown
// outcome is told on the bus as an invalidation, as a timed-out write's late settle already was.

const cleanups: (() => Promise<unknown>)[] = [];
let store: FaultScratch;

beforeAll(async () => {
  store = await faultScratch('reg_unknown_told');
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(async () => {
  await store?.cleanup();
});

const text = (b: Buffer) => b.toString('latin1');

describe('a write whose reply is lost after Postgres committed it', () => {
  for (const kind of ['set', 'setMany', 'tx'] as const)
    it(`${kind}: the other instance stops answering its L1 copy, and reads what Postgres holds`, async () => {
      const schema = store.schema();
      const proxy = await startTcpProxy(Number(new URL(store.databaseUrl).port || 5432));
      const pool = new pg.Pool({ connectionString: proxy.url(store.databaseUrl), max: 2 });
      pool.on('error', () => {});
      pool.on('connect', (client) => client.on('error', () => {}));
      const instance = (db: ReturnType<typeof drizzle>) => {
        const strata = new Strata({
          l2: createIoredisL2(store.redisUrl),
          l3: createDrizzleL3(db, { migrationsSchema: store.name }),
          coherence: { bus: createRedisPubSubBus({ url: store.redisUrl, channel: `${store.name}:bus` }) },
          keyPrefix: store.name,
          ttl: { l1: '10m', l2: '10m' }, // coherence from the bus, not from short TTLs
          schemas: [schema],
        });
        cleanups.push(() => strata.close());
        return strata;
      };
      const a = instance(drizzle(pool));
      const b = instance(store.db);
      cleanups.push(
        () => pool.end(),
        () => proxy.close(),
      );
      const ids = [`${kind}-1`, `${kind}-2`];
      await b.setMany(
        schema,
        ids.map((id) => ({ id, n: 1 })),
      );
      for (const s of [a, b]) for (const id of ids) expect((await s.get(schema, id)).n).toBe(1);

      // The statement that carries the write (a one-statement write's upsert, a transaction's
      // COMMIT) reaches Postgres; its reply does not come back.
      proxy.trap({
        direction: 'up',
        match: (chunk) => (kind === 'tx' ? /\bcommit\b/i : /insert into/i).test(text(chunk)),
        action: 'cut-on-reply',
      });
      const write: Promise<unknown> =
        kind === 'set'
          ? a.set(schema, { id: ids[0]!, n: 2 })
          : kind === 'setMany'
            ? a.setMany(
                schema,
                ids.map((id) => ({ id, n: 2 })),
              )
            : // A set and a delete: two statements, so a real BEGIN … COMMIT.
              a.tx().set(schema, { id: ids[0]!, n: 2 }).delete(schema, ids[1]!).commit();
      const outcome = await settleBy(write, 3_000);
      expect(proxy.stats().trapsFired).toBe(1);
      expect(codeOf(outcome)).toBe(kind === 'tx' ? 'TX_FAILED' : 'L3_UNAVAILABLE');
      const stored = await store.stored();
      const want = ids.map((id) => stored.get(id) ?? null);
      expect(want[0], 'committed after all').toBe(2);

      // Within the bus bound, B answers what Postgres holds.
      await vi.waitFor(
        async () => {
          const read = await Promise.all(ids.map(async (id) => (await b.find(schema, id))?.n ?? null));
          expect(read, 'B reads').toEqual(want);
        },
        { timeout: 2_000, interval: 50 },
      );
    });
});
