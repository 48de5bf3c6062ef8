import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisLink } from '../support/deployment-link.js';
import { scratchApp } from '../support/scratch-app.js';

// Found by model-deployments.test.ts (seed 32, write-through and write-through-l1-async; minimised
// by hand from `linkCut(k0), redisDataLoss, get(A2, k0)`): A2's link to Redis is cut while it
// deletes k; Postgres commits the delete (v1), L2 misses its tombstone, so A2 keeps it to send again
// before its next L2 use (generation.ts, MissedWriteRepair). A1 then sets k (v2, in Postgres and
// L2). Redis restarts without its data. A2's next read finds the reset with the generation read
// that precedes the repair, and the repair then PUT the v1 tombstone into the emptied Redis: v2's
// copy, which would have refused it, went with the reset. Every instance (A2, A1 once its L1 is
// cleared, a new one) then read k as absent from L2 for the tombstone's 60 s while Postgres held
// v2. The model saw A2 read `k0 = null` 1.4-1.5 s after A1's set (bound 1,000 ms).

const cols = { id: text('id').primaryKey(), n: integer('n').notNull() };
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

describe('a committed write L2 missed, sent again after a Redis reset', () => {
  const scratch = scratchApp('reg_missed_reset');
  const { pgName, redisUrl, wipe, name } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  scratch.migrate(table);

  it.each(['write-through', 'write-through-l1-async'] as const)(
    '%s: does not bring the older write back over a newer one the reset lost',
    async (writeMode) => {
      const schema = defineSchema({ name: 'items', table, writeMode });
      const link = await startRedisLink(Number(new URL(redisUrl).port || 6379), 1_000);
      closers.push(() => link.close());
      // A2's L2 goes through the proxy; while cut, its reconnects wait past its L2 timeout.
      const viaProxy = link.client(redisUrl);
      closers.push(async () => viaProxy.disconnect());
      const channel = `${name}:bus`;
      const a1 = scratch.strata({
        schemas: [schema],
        coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel }) },
      });
      const a2 = scratch.strata({
        schemas: [schema],
        l2: createIoredisL2(viaProxy),
        coherence: { bus: createRedisPubSubBus({ redis: viaProxy, channel }) },
        timeouts: { l2: '300ms' },
      });
      const k = `k-${writeMode}`;
      await a1.set(schema, { id: k, n: 0 });
      for (const s of [a1, a2]) expect((await s.find(schema, k))?.n).toBe(0);

      // A2's link is cut: its delete commits in Postgres, L2 misses the tombstone (kept to send again).
      const gaps = a2.stats().busGaps;
      const reconnecting = link.reconnecting();
      link.cut();
      await reconnecting;
      expect(await a2.delete(schema, k)).toBe(true);
      expect(a2.stats().errorsBy.l2, "A2's L2 missed the delete").toBeGreaterThan(0);
      // A1 writes k after it: Postgres and L2 hold v2.
      await a1.set(schema, { id: k, n: 2 });
      expect(await scratch.n(k)).toBe(2);

      // The link comes back; then Redis loses its data (every key of the app: boot marker, rows).
      link.heal();
      await link.ready(10_000);
      // A2's bus subscribed again: the gap (A1's message was missed) cleared its L1.
      await expect.poll(() => a2.stats().busGaps, { timeout: 5_000 }).toBeGreaterThan(gaps);
      await wipe();

      // A2's next read finds the reset (and sends what L2 missed): it reads A1's write.
      expect((await a2.find(schema, k))?.n, 'A2 reads the write made after its own').toBe(2);
      const fresh = scratch.strata({ schemas: [schema] });
      expect((await fresh.find(schema, k))?.n, 'so does an instance started now').toBe(2);
      expect(a2.stats().errorsBy['l2-reset'], 'A2 found the reset').toBe(1);
    },
  );
});
