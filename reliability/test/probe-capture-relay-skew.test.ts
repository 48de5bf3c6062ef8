import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { changeRelay, defineSchema, Strata } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';

// Change capture's relay with clock skew between instances. One instance per interval reads the
// change log: whoever takes the lease when the app's cursor has not moved within the interval
// (docs/change-capture.md). An instance whose clock runs ahead makes a pass and goes away (a
// Worker isolate no request reaches, a process stopped); the instances left poll every interval.
// An outside write after that pass must reach them within an interval and the bus's bound, not
// within the skew. Before the fix (RELAY_TAKE counted any move less than an interval before the
// poller's clock as recent, a move in its future included) the 60 s case failed:
// `expected { id: 'k60000', n: 1 } to match object { n: 2 }` (B found the cursor not due).

const INTERVAL_MS = 1_000;
/** How long another instance may still serve what a write replaced (bus delivery). */
const BOUND_MS = 1_000;
const SKEW_MS = 60_000;

describe('the change relay after a pass by an instance whose clock runs ahead', () => {
  const app = scratchApp('probe_relayskew');
  const table = pgSchema(app.pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
  });
  app.migrate(table);
  const schema = defineSchema({ table, writeMode: 'write-through', l1: { ttl: '10m' } });
  beforeAll(async () => {
    await new Strata({
      l3: createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
      keyPrefix: app.name,
      schemas: [schema],
    }).migrate({ capture: true });
  });

  for (const skew of [SKEW_MS, -SKEW_MS])
    it(`skew ${skew / 1000} s: the instances left apply an outside write within an interval and the bound`, async () => {
      const channel = `${app.name}:bus${skew}`;
      const one = (config: { clock?: ReturnType<typeof manualClock> } = {}) =>
        app.strata({
          l3: createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
          coherence: { bus: createRedisPubSubBus({ url: app.redisUrl, channel }) },
          capture: { relay: changeRelay({ interval: INTERVAL_MS }) },
          schemas: [schema],
          ...config,
        });
      const k = `k${skew}`;
      const b = one();
      await b.set(schema, { id: k, n: 1 });
      expect(await b.find(schema, k)).toMatchObject({ n: 1 }); // in B's L1
      const a = one({ clock: manualClock(Date.now() + skew) });
      await a.find(schema, 'warm-up');
      await b.settled(); // B's own poll (its calls start one) is not holding the lease
      expect(await a.relayChanges()).toMatchObject({ status: 'applied' });
      await a.close(); // gone: no request reaches it any more
      await app.admin.query(`update "${app.pgName}".items set n = 2 where id = $1`, [k]);
      // B polls on its calls, at most once an interval (its own clock).
      await expect
        .poll(async () => b.find(schema, k), { timeout: INTERVAL_MS + BOUND_MS + 1_000, interval: 100 })
        .toMatchObject({ n: 2 });
      const fresh = one();
      expect(await fresh.find(schema, k)).toMatchObject({ n: 2 });
      expect(await app.n(k)).toBe(2);
    });
});
