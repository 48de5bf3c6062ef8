import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { changeRelay, defineSchema, Strata } from '@strata/core';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';

// Two apps (own keyPrefix, own tables in their own Postgres schemas) on one Redis and one database,
// both capturing; one removes its capture while the other keeps relaying. The other app's triggers,
// log, cursor and caches must be untouched: its outside writes still reach every tier. Walked with
// each app's change log in its own schema and with one log shared (one migrationsSchema). Passed on
// the code it was written against: kept as a cheap guard.

describe('one of two capturing apps removes its capture', () => {
  const scratch = scratchApp('probe_capremove');
  const tableOf = (pg: string) =>
    pgSchema(pg).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const layouts = { own: false, shared: true };
  const tables = Object.fromEntries(
    Object.keys(layouts).flatMap((l) =>
      ['a', 'b'].map((x) => [`${l}${x}`, tableOf(`${scratch.name}_${l}${x}`)]),
    ),
  );
  scratch.migrate(...Object.values(tables));

  for (const [layout, shared] of Object.entries(layouts))
    it(`${layout} log: the other app keeps its capture, relay and caches`, async () => {
      const apps = (['a', 'b'] as const).map((x) => {
        const pg = `${scratch.name}_${layout}${x}`;
        const migrationsSchema = shared ? `${scratch.name}_${layout}a` : pg;
        const schema = defineSchema({
          table: tables[`${layout}${x}`]!,
          l1: { ttl: '10m' },
          l2: { ttl: '10m' },
        });
        const keyPrefix = `${scratch.name}${layout}${x}`;
        const config = () => ({
          keyPrefix,
          l3: createDrizzleL3(scratch.db, { capture: changeCapture, migrationsSchema }),
          schemas: [schema],
        });
        const open = () =>
          scratch.strata({
            ...config(),
            capture: { relay: changeRelay({ interval: '1h' }) },
            coherence: { bus: createRedisPubSubBus({ url: scratch.redisUrl, channel: `${keyPrefix}:bus` }) },
          });
        return { pg, schema, keyPrefix, config, open };
      });
      for (const x of apps) await new Strata(x.config()).migrate({ capture: true });
      const [a, b] = apps as [(typeof apps)[0], (typeof apps)[0]];
      const [a1, a2, b1] = [a.open(), a.open(), b.open()];
      for (const [s, x] of [
        [a1, a],
        [a2, a],
        [b1, b],
      ] as const) {
        await s.set(x.schema, { id: 'k', n: 1 });
        expect(await s.relayChanges()).toMatchObject({ status: 'applied' }); // cursors stored
        expect(await s.find(x.schema, 'k')).toMatchObject({ n: 1 });
      }
      const aCursor = await scratch.raw.get(`${a.keyPrefix}:changes:cursor`);
      await b1.capture.remove();
      expect(await scratch.raw.get(`${a.keyPrefix}:changes:cursor`)).toBe(aCursor);
      expect((await a1.capture.check()).every((c) => c.installed)).toBe(true);
      for (const x of apps) await scratch.admin.query(`update "${x.pg}".items set n = 2 where id = 'k'`);
      expect(await a1.relayChanges()).toMatchObject({ status: 'applied', changes: 1, gap: false });
      for (const s of [a1, a2])
        await expect
          .poll(async () => s.find(a.schema, 'k'), { timeout: 2_000, interval: 50 })
          .toMatchObject({ n: 2 });
      // B's relay after its own remove: its log still exists (shared or not); a shared one hands it
      // A's entry, which names no schema of B's and is skipped.
      expect(await b1.relayChanges()).toMatchObject({ status: 'applied', gap: false });
      expect(b1.stats().errorsBy.capture ?? 0).toBe(0);
      // A's capture goes on after B's remove, for a later outside write too.
      await scratch.admin.query(`update "${a.pg}".items set n = 3 where id = 'k'`);
      expect(await a2.relayChanges()).toMatchObject({ status: 'applied', changes: 1 });
      for (const s of [a1, a2])
        await expect
          .poll(async () => s.find(a.schema, 'k'), { timeout: 2_000, interval: 50 })
          .toMatchObject({ n: 3 });
    });
});
