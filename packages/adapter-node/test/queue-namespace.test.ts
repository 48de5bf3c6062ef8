import { isStrataError } from '@strata/core';
import type { QueuedWrite } from '@strata/core/driver';
import { strataRejection } from '@strata/core/testing';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createRedisStreamQueue, type RedisStreamQueue } from '../src/redis-tcp/queue.js';

// Issue 12, item 2: two apps with write-behind on one Redis shared the default stream and consumer
// group, and app A's flusher applied app B's acknowledged writes. Each app's keyPrefix now names
// its own stream, group and dead letters.

const url = serviceUrls().redisUrl;
const admin = new Redis(url, { protocol: 2 });
admin.on('error', () => {});
const opened: RedisStreamQueue[] = [];
const prefixes: string[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((q) => q.close()));
  for (const prefix of prefixes.splice(0)) {
    const keys = await admin.keys(`${prefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
  }
});
afterAll(async () => {
  await admin.quit();
});

/** A queue of app `keyPrefix` on this machine's Redis (no AOF: allowVolatile). */
function app(keyPrefix: string): RedisStreamQueue {
  prefixes.push(keyPrefix);
  const queue = createRedisStreamQueue({ url, keyPrefix, allowVolatile: true });
  opened.push(queue);
  return queue;
}

const write = (schema: string, i: number): QueuedWrite => ({
  schema,
  id: `${schema}-${i}`,
  op: 'set',
  row: JSON.stringify({ id: `${schema}-${i}` }),
  version: i + 1,
});

describe('Redis Stream queue namespaces', () => {
  it('two apps on one Redis: each takes only its own writes', async () => {
    const run = uniqueName('ns');
    const [a, b] = [app(`appA_${run}`), app(`appB_${run}`)];
    // Same schema name in both apps: only the namespace keeps them apart.
    await a.enqueue([0, 1, 2].map((i) => write('players', i)));
    await b.enqueue([10, 11].map((i) => write('players', i)));
    const takenByA = await a.take(100);
    const takenByB = await b.take(100);
    expect(takenByA.map((d) => d.write.id)).toEqual(['players-0', 'players-1', 'players-2']);
    expect(takenByB.map((d) => d.write.id)).toEqual(['players-10', 'players-11']);
    await a.ack(takenByA.map((d) => d.handle));
    expect(await a.pending()).toBe(0);
    expect(await b.pending()).toBe(2);
    await b.deadLetter(takenByB, 'refused');
    expect(await admin.xlen(`appB_${run}:writes:dead`)).toBe(2);
    expect(await admin.exists(`appA_${run}:writes:dead`)).toBe(0);
  });

  it('names the stream <keyPrefix>:writes, the group <keyPrefix>:flushers, dead letters <stream>:dead', async () => {
    const keyPrefix = `app_${uniqueName('ns_names')}`;
    const queue = app(keyPrefix);
    expect(queue).toMatchObject({
      namespace: keyPrefix,
      stream: `${keyPrefix}:writes`,
      group: `${keyPrefix}:flushers`,
      deadLetterStream: `${keyPrefix}:writes:dead`,
    });
    await queue.enqueue([write('s', 0)]);
    await queue.take(1);
    const groups = (await admin.xinfo('GROUPS', `${keyPrefix}:writes`)) as unknown[][];
    expect(groups.map((g) => g[1])).toEqual([`${keyPrefix}:flushers`]);
    // An explicit stream keeps the namespace's group.
    const custom = createRedisStreamQueue({
      url,
      keyPrefix,
      stream: `${keyPrefix}:other`,
      allowVolatile: true,
    });
    opened.push(custom);
    expect([custom.namespace, custom.stream, custom.group, custom.deadLetterStream]).toEqual([
      keyPrefix,
      `${keyPrefix}:other`,
      `${keyPrefix}:flushers`,
      `${keyPrefix}:other:dead`,
    ]);
  });

  it("defaults to the namespace 'strata', as Strata's keyPrefix does", async () => {
    // Names only: nothing is sent, so the shared default keys of this Redis are left alone.
    const queue = createRedisStreamQueue({ url, allowVolatile: true });
    opened.push(queue);
    expect([queue.namespace, queue.stream, queue.group, queue.deadLetterStream]).toEqual([
      'strata',
      'strata:writes',
      'strata:flushers',
      'strata:writes:dead',
    ]);
  });

  it.each([[''], ['a b'], ['app:writes'], ['x'.repeat(65)], [42]])(
    'refuses the keyPrefix %j (INVALID_CONFIG)',
    async (keyPrefix) => {
      const options = { url, keyPrefix: keyPrefix as string };
      const error = await strataRejection((async () => createRedisStreamQueue(options))());
      expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
      expect(error.message).toContain('keyPrefix');
    },
  );
});
