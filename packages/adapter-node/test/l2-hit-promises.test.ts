import { createHook } from 'node:async_hooks';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { scratch } from './support/scratch.js';

// Issue 15: a `get` that misses L1 and hits L2 over Redis TCP pays, after other work, for every
// frame and promise between Redis' reply and the caller. Counted here as `bench/l2-hops.mjs`
// counts them (an async_hooks init hook; with it on, V8 makes one more per `await`), against raw
// ioredis GET + JSON.parse over the same connection kind: base 5 more, now 3.

const store = scratch('l2_hit_promises');
const { name, redisUrl, db } = store;
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table, l1: false });
const raw = new Redis(redisUrl, { protocol: 2 });

afterAll(async () => {
  const keys = await raw.keys(`${name}*`);
  if (keys.length > 0) await raw.del(...keys);
  await raw.quit();
  await store.cleanup();
});

/**
 * Promises made by `op` (awaited) per call, over `calls` calls after as many unhooked: the median
 * call's. Not the mean: the test runner's own IPC with its worker (a `process.emit` of a child
 * process message) sometimes lands inside one call and adds its promises there (+17 once in 50
 * calls: a mean of 3.34 more where every call made 3 more).
 */
async function promisesPerCall(op: (i: number) => Promise<unknown>, calls = 50): Promise<number> {
  for (let i = 0; i < calls; i++) await op(i);
  const made: number[] = [];
  const hook = createHook({
    init: (_id, type) => {
      if (type === 'PROMISE') made[made.length - 1]! += 1;
    },
  });
  hook.enable();
  try {
    for (let i = 0; i < calls; i++) {
      made.push(0);
      await op(i);
    }
  } finally {
    hook.disable();
  }
  return made.sort((a, b) => a - b)[Math.floor(calls / 2)]!;
}

it('an L2 hit over ioredis makes at most 3 promises more than raw GET + JSON.parse', async () => {
  const l2 = createIoredisL2(redisUrl);
  const strata = new Strata({
    l2,
    l3: createDrizzleL3(db, { migrationsSchema: name }),
    keyPrefix: name,
    schemas: [items],
  });
  try {
    await strata.migrate();
    const rows = Array.from({ length: 10 }, (_, i) => ({ id: `i${i}`, n: i }));
    await strata.setMany(items, rows);
    await raw.set(`${name}:raw`, JSON.stringify(rows[0]));
    const reads = strata.stats().hits.l2;
    const strataMade = await promisesPerCall((i) => strata.get(items, `i${i % 10}`));
    // Every one of them an L2 hit: no L3 read hides in the count.
    expect(strata.stats().hits.l2 - reads).toBe(100);
    const rawMade = await promisesPerCall(async () => JSON.parse((await raw.get(`${name}:raw`))!));
    expect(strataMade - rawMade).toBeLessThanOrEqual(3);
  } finally {
    await strata.close();
    await l2.close();
  }
});
