import { serviceUrls } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { clusterBuckets, defineSchema, Strata } from '../src/index.js';
import { engineStack } from './support/stack.js';

// The engine tests' stack deletes every key its tests made at cleanup, a bucketed app's too
// (`buckets` > 1 puts them under `{name#b}`): test runs must not leave keys behind in Redis.

const redis = new Redis(serviceUrls().redisUrl, { protocol: 2 });
afterAll(async () => {
  await redis.quit();
});

/** Every key of this stack's name, bucketed or not. */
const keysOf = async (name: string) => [
  ...(await redis.keys(`${name}*`)),
  ...(await redis.keys(`{${name}*`)),
];

it('cleanup deletes the keys of a bucketed app and of a plain one, and only those', async () => {
  const stack = await engineStack('tidy_stack_cleanup');
  const other = `${stack.name}_not_mine`.replace(/^t_/, 'u_'); // not under the stack's name
  await redis.set(other, '1');
  let cleaned = false;
  try {
    const schema = defineSchema({ table: stack.tables.players });
    await new Strata({ l3: stack.l3, schemas: [schema] }).migrate();
    for (const buckets of [1, 4]) {
      const strata = new Strata({
        l2: stack.l2,
        l3: stack.l3,
        keyPrefix: `${stack.keyPrefix}b${buckets}`,
        buckets,
        bucketing: clusterBuckets,
        schemas: [schema],
      });
      await strata.set(schema, { id: `p${buckets}`, username: `u${buckets}`, level: 1 });
      await strata.close();
    }
    const before = await keysOf(stack.name);
    expect(before.some((key) => key.startsWith(`{${stack.name}b4#`))).toBe(true);
    expect(before.some((key) => key.startsWith(`${stack.name}b1:`))).toBe(true);
    cleaned = true;
    await stack.cleanup();
    expect(await keysOf(stack.name)).toEqual([]);
    expect(await redis.get(other)).toBe('1');
  } finally {
    if (!cleaned) await stack.cleanup();
    await redis.del(other);
    // Whatever the cleanup left (before the fix: the bucketed keys), so the run leaves nothing.
    const left = await keysOf(stack.name);
    if (left.length > 0) await redis.del(...left);
  }
});
