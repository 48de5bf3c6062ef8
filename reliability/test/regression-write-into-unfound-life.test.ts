import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { createMemoryQueue, type Strata } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AofRedis, startAofRedis } from '../support/deployment-redis.js';
import { heldL3 } from '../support/held-l3.js';
import { shapesApp } from '../support/shapes-app.js';

// Found by model-merge-refused.test.ts (seed 9106, run 33, a rolling deploy; minimised by hand):
// Redis loses its data; v2's instances find the reset and write on, pushing the tick (`{root}:tick`)
// past the highest one v1's instance saw, so v1's next scripts raised no reset (a tick above the
// floor looks like a Redis that kept running), and the boot marker is read only by a generation
// read (every 5 s: never, here, on a manual clock). v2's write-through transaction sets `a`, held
// before Postgres (its version reserved); v1's transaction sets `b, c` meanwhile, commits first, at
// a later version. v1 wrote its row into a Redis life it had not found (its shape not registered
// live there, so v2's commit marked none of its keys) and served a:<v2's first write> for good,
// while Postgres held v2's a.
// Now: every write script carries the boot marker its instance knows and writes nothing in another
// life (`LIFE` in l2/life-script.ts): v1's first write after the wipe finds the reset.

describe('an instance that has not found a Redis reset writes nothing into the new life', () => {
  const { scratch, v1Behind, v2Behind, v2Through, row } = shapesApp('lifecheck_unfound_life');
  const { db, pgName, name } = scratch;
  let redis: AofRedis;
  beforeAll(async () => {
    redis = await startAofRedis();
  });
  afterAll(() => redis.stop());

  it("v1's transaction after the reset serves Postgres' row, not a column of its own older read", async () => {
    const clock = manualClock(Date.now());
    const config = (l3 = createDrizzleL3(db, { migrationsSchema: pgName })) => ({
      l2: createIoredisL2(redis.url),
      l3,
      clock,
      writeBehind: { queue: createMemoryQueue() },
      coherence: { bus: createRedisPubSubBus({ url: scratch.redisUrl, channel: `${name}:bus` }) },
    });
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }), 'before');
    const a = scratch.strata({ ...config(), schemas: [v1Behind] });
    const b = scratch.strata({ ...config(), schemas: [v2Behind] });
    const c = scratch.strata({ ...config(held.l3), schemas: [v2Through] });
    const id = 'k';
    await a.set(v1Behind, { id: 'other', b: 'b0', c: 0 }); // v1 knows this Redis life
    await a.flushDirty();

    // Redis restarted without its data.
    await redis.kill();
    redis.wipe();
    await redis.start();

    // v2's writes find the reset and push the tick past every tick v1 saw.
    for (const n of [1, 2, 3])
      await b
        .tx()
        .set(v2Behind, { id, a: n, b: `b${n}`, c: n, extra: `x${n}` })
        .commit();
    await expect.poll(() => a.find(v1Behind, id)).toEqual({ id, a: 3, b: 'b3', c: 3 });

    held.holdNext();
    const tx = c.tx().set(v2Through, { id, a: 4, b: 'b4', extra: 'x4' }).commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true); // reserved, not in Postgres
    await a.tx().set(v1Behind, { id, b: 'b5', c: 5 }).commit(); // commits first, a later version
    held.open();
    await tx;
    for (const s of [a, b, c] as Strata[]) await s.flushDirty();

    const stored = await row(id);
    expect(stored).toEqual({ id, a: 4, b: 'b5', c: 5, extra: 'x4' });
    const fresh = scratch.strata({ ...config(), schemas: [v1Behind] });
    // Old failure: v1's instance served { id: 'k', a: 3, b: 'b5', c: 5 } for good.
    for (const s of [a, fresh])
      await expect.poll(() => s.find(v1Behind, id)).toEqual({ id, a: 4, b: 'b5', c: 5 });
    await expect.poll(() => b.find(v2Behind, id)).toEqual(stored);
    await expect.poll(() => c.find(v2Through, id)).toEqual(stored);
  });
});
