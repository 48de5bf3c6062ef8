import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { changeRelay, defineSchema, Strata } from '@strata/core';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisProcess, startRedisProcess } from '../support/redis-process.js';
import { scratchApp } from '../support/scratch-app.js';

// The change relay across a Redis restart in the middle of its pass (docs/change-capture.md,
// "Gaps"): L2 is a redis-server of this file's own, restarted by its PID just before the pass
// stores its cursor (the lease taken, the log read and applied): without its data, or from a
// snapshot saved right after the lease was taken (the lease and the old cursor come back, the
// pass's markers do not: the pass stores its cursor all the same, and the older tick tells every
// instance of the reset). Also the cursor alone lost (evicted): while the pass holds the lease
// (its store writes it again), or before the pass takes it (a fresh start: a gap, every cache
// dropped). Passed on the code it was written against: kept as a guard. The bus is on the shared
// Redis, which keeps running. After the restart, every instance must stop serving each outside
// write within the generation refresh (5 s, the bound of a Redis that lost data) and Postgres holds it.

const REFRESH_BOUND_MS = 5_000 + 2_000;

describe('the change relay across a Redis restart mid-pass', () => {
  const app = scratchApp('probe_relayrestart');
  const table = pgSchema(app.pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
  });
  app.migrate(table);
  const schema = defineSchema({ table, writeMode: 'write-through', l1: { ttl: '10m' }, l2: { ttl: '10m' } });
  let redis: RedisProcess;
  let raw: Redis;
  beforeAll(async () => {
    redis = await startRedisProcess();
    raw = new Redis(redis.url, { maxRetriesPerRequest: 0, protocol: 2, retryStrategy: () => 50 });
    raw.on('error', () => {});
    await new Strata({
      l3: createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
      keyPrefix: app.name,
      schemas: [schema],
    }).migrate({ capture: true });
  });
  afterAll(async () => {
    raw?.disconnect();
    await redis?.close();
  });

  type Fault = 'wiped' | 'snapshot' | 'cursor' | 'cursor-first';
  const faults: Fault[] = ['wiped', 'snapshot', 'cursor', 'cursor-first'];
  for (const fault of faults)
    it(`${fault}: every instance stops serving the outside writes`, async () => {
      const keyPrefix = `${app.name}${fault}`;
      let armed = false;
      const one = () => {
        const l2 = createIoredisL2(redis.url);
        // The fault, on the pass that arms it: a snapshot once the lease is taken, the restart (or the
        // cursor's loss) just before the cursor is stored.
        const run = l2.run.bind(l2);
        l2.run = async (script, keys, args, sendBy) => {
          if (armed && fault === 'cursor-first' && script.name === 'relay-take') {
            armed = false;
            await raw.del(keys[1]!); // the cursor alone lost (evicted) before the pass takes the lease
          }
          if (armed && script.name === 'relay-store') {
            armed = false;
            if (fault === 'cursor') await raw.del(keys[1]!);
            else await redis.restart({ dropData: fault === 'wiped' });
          }
          const reply = await run(script, keys, args, sendBy);
          if (armed && fault === 'snapshot' && script.name === 'relay-take') await raw.save();
          return reply;
        };
        return app.strata({
          keyPrefix,
          l2,
          l3: createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
          coherence: { bus: createRedisPubSubBus({ url: app.redisUrl, channel: `${keyPrefix}:bus` }) },
          capture: { relay: changeRelay({ interval: '1h' }) },
          schemas: [schema],
        });
      };
      const [a, b] = [one(), one()];
      const k = fault;
      await a.set(schema, { id: k, n: 1 });
      expect(await a.relayChanges()).toMatchObject({ status: 'applied' }); // a cursor is stored
      for (const s of [a, b]) expect(await s.find(schema, k)).toMatchObject({ n: 1 });
      await app.admin.query(`update "${app.pgName}".items set n = 2 where id = $1`, [k]);
      armed = true;
      await a.relayChanges(); // the faulted pass: whatever it resolves
      expect(armed).toBe(false);
      const passes = async (s: Strata) => {
        await s.relayChanges();
        return s.find(schema, k);
      };
      // The write the faulted pass read, then one after the fault, before any further pass.
      for (const s of [a, b])
        await expect
          .poll(async () => passes(s), { timeout: REFRESH_BOUND_MS, interval: 200 })
          .toMatchObject({ n: 2 });
      await app.admin.query(`update "${app.pgName}".items set n = 3 where id = $1`, [k]);
      for (const s of [a, b])
        await expect
          .poll(async () => passes(s), { timeout: REFRESH_BOUND_MS, interval: 200 })
          .toMatchObject({ n: 3 });
      expect(await app.n(k)).toBe(3);
      expect(await one().find(schema, k)).toMatchObject({ n: 3 });
    });
});
