import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { changeRelay, defineSchema, Strata } from '@strata/core';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';

// Change capture when the trigger cannot write the change log (docs/change-capture.md, "What a
// trigger does"): the user's statement must still commit, and the entry it could not log must not
// be lost silently: the relay must see a gap and drop every cached row. Before the fix the trigger
// only raised a WARNING, nothing told the relay, and every instance kept serving the row the
// outside write replaced until its TTL: `expected { id: 'renamed', n: 1 } to match object { n: 2 }`
// (and 'refused' alike). A log locked by another session held the user's write for as long as the
// lock lasted: `error: canceling statement due to statement timeout` (3 s); now the trigger waits at
// most a second for Strata's tables, then commits the write with the gap marked.

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

  let holder: pg.PoolClient | undefined;
  const breakages = {
    // Another session holds the log locked (LOCK TABLE, a VACUUM FULL, DDL) across the write.
    locked: {
      on: async () => {
        holder = await app.admin.connect();
        await holder.query('begin');
        await holder.query(`lock table ${log} in access exclusive mode`);
      },
      off: async () => {
        await holder?.query('rollback');
        holder?.release();
      },
    },
    renamed: {
      on: () => app.admin.query(`alter table ${log} rename to "_strata_changes_off"`),
      off: () =>
        app.admin.query(`alter table "${app.pgName}"."_strata_changes_off" rename to "_strata_changes"`),
    },
    refused: {
      on: () => app.admin.query(`alter table ${log} add constraint "probe_refuse" check (false) not valid`),
      off: () => app.admin.query(`alter table ${log} drop constraint "probe_refuse"`),
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
      await breakage.on();
      const writer = await app.admin.connect();
      try {
        // The log never fails the user's write, nor holds it (a bound well under the timeout).
        await writer.query("set statement_timeout = '3s'");
        const outside = await writer.query(`update "${app.pgName}".items set n = 2 where id = $1`, [k]);
        expect(outside.rowCount).toBe(1);
      } finally {
        await writer.query('reset statement_timeout').catch(() => {});
        writer.release();
        await breakage.off();
      }
      expect(await app.n(k)).toBe(2);
      for (const s of [a, b])
        await expect
          .poll(async () => s.find(schema, k), { timeout: INTERVAL_MS + BOUND_MS + 1_000, interval: 100 })
          .toMatchObject({ n: 2 });
      const gaps = (s: Strata) => s.stats().capture?.relay?.gaps ?? 0;
      expect(gaps(a) + gaps(b)).toBeGreaterThanOrEqual(1);
      const fresh = one();
      expect(await fresh.find(schema, k)).toMatchObject({ n: 2 });
    });
});
