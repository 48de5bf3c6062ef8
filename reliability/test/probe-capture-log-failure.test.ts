import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { changeRelay, defineSchema, Strata } from '@strata/core';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';

// Change capture when the trigger cannot write the change log (docs/change-capture.md, "What a
// trigger does"): the user's statement must still commit, and the entry it could not log must not
// be lost silently: the relay must see a gap and drop every cached row. Before the fix the trigger
// only raised a WARNING, nothing told the relay, and every instance kept serving the row the
// outside write replaced until its TTL: `expected { id: 'renamed', n: 1 } to match object { n: 2 }`.

const INTERVAL_MS = 1_000;
/** How long another instance may still serve what a write replaced (bus delivery). */
const BOUND_MS = 1_000;

describe('an outside write whose change-log entry fails', () => {
  const app = scratchApp('probe_capfail');
  const table = pgSchema(app.pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
  });
  app.migrate(table);
  const schema = defineSchema({ table, writeMode: 'write-through', l1: { ttl: '10m' }, l2: { ttl: '10m' } });
  const log = `"${app.pgName}"."_strata_changes"`;
  beforeAll(async () => {
    await new Strata({
      l3: createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
      keyPrefix: app.name,
      schemas: [schema],
    }).migrate({ capture: true });
  });

  const breakages = {
    renamed: {
      on: `alter table ${log} rename to "_strata_changes_off"`,
      off: `alter table "${app.pgName}"."_strata_changes_off" rename to "_strata_changes"`,
    },
    refused: {
      on: `alter table ${log} add constraint "probe_refuse" check (false) not valid`,
      off: `alter table ${log} drop constraint "probe_refuse"`,
    },
  };
  for (const [k, breakage] of Object.entries(breakages))
    it(`${k}: the write commits, and every instance stops serving the old row within the bound`, async () => {
      const channel = `${app.name}:bus:${k}`;
      const one = () =>
        app.strata({
          l3: createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
          coherence: { bus: createRedisPubSubBus({ url: app.redisUrl, channel }) },
          capture: { relay: changeRelay({ interval: INTERVAL_MS }) },
          schemas: [schema],
        });
      const [a, b] = [one(), one()];
      await a.set(schema, { id: k, n: 1 });
      for (const s of [a, b]) expect(await s.find(schema, k)).toMatchObject({ n: 1 });
      await Promise.all([a.settled(), b.settled()]);
      await app.admin.query(breakage.on);
      try {
        const outside = await app.admin.query(`update "${app.pgName}".items set n = 2 where id = $1`, [k]);
        expect(outside.rowCount).toBe(1); // the log never fails the user's write
      } finally {
        await app.admin.query(breakage.off);
      }
      expect(await app.n(k)).toBe(2);
      for (const s of [a, b])
        await expect
          .poll(async () => s.find(schema, k), { timeout: INTERVAL_MS + BOUND_MS + 1_000, interval: 100 })
          .toMatchObject({ n: 2 });
      expect(a.stats().capture.relay.gaps + b.stats().capture.relay.gaps).toBeGreaterThanOrEqual(1);
      const fresh = one();
      expect(await fresh.find(schema, k)).toMatchObject({ n: 2 });
    });
});
