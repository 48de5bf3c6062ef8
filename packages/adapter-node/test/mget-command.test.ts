import { createHook } from 'node:async_hooks';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { sendMget } from '../src/redis-tcp/mget-command.js';

// sendMget builds the MGET itself (no flat copy of its keys); it must send what `redis.mget` sends,
// reply the same, leave the caller's array as it was, and keep ioredis' key prefixing where a
// client asks for it.

const { redisUrl } = serviceUrls();
const prefix = `${uniqueName('l2read-mget')}:`;
const clients: Redis[] = [];
const client = (options: RedisOptions = {}) => {
  const redis = new Redis(redisUrl, { protocol: 2, ...options });
  clients.push(redis);
  return redis;
};

afterAll(async () => {
  const redis = clients[0] ?? client();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await Promise.all(clients.map((c) => c.quit()));
});

describe('sendMget', () => {
  it('replies what redis.mget replies: strings by position, null for a missing key', async () => {
    const redis = client();
    await redis.mset(`${prefix}a`, '~1;r;0;1', `${prefix}b`, 'é ✓ {"x":"y\\n"}', `${prefix}c`, '');
    const keys = [`${prefix}a`, `${prefix}missing`, `${prefix}b`, `${prefix}c`, `${prefix}a`];
    const copy = [...keys];
    const sent = await sendMget(redis, keys);
    expect(sent).toEqual(['~1;r;0;1', null, 'é ✓ {"x":"y\\n"}', '', '~1;r;0;1']);
    expect(sent).toEqual(await redis.mget(keys));
    expect(keys).toEqual(copy);
  });

  it('sends a thousand keys in one command', async () => {
    const redis = client();
    const keys = Array.from({ length: 1_000 }, (_, i) => `${prefix}many:${i}`);
    await redis.mset(...keys.flatMap((k, i) => [k, String(i)]));
    const sent = (await sendMget(redis, keys)) as string[];
    expect(sent).toHaveLength(1_000);
    expect(sent[0]).toBe('0');
    expect(sent[999]).toBe('999');
  });

  it('rejects as redis.mget does (no keys is a Redis error)', async () => {
    const redis = client();
    await expect(sendMget(redis, [])).rejects.toThrow(/wrong number of arguments/);
  });

  it("keeps a client's keyPrefix on the keys", async () => {
    const plain = client();
    await plain.set(`${prefix}p:k`, 'v');
    const prefixed = client({ keyPrefix: `${prefix}p:` });
    expect(await sendMget(prefixed, ['k', 'none'])).toEqual(['v', null]);
  });
});

/** Promises created while `work()` runs (synchronously: what a call makes before its reply). */
function promisesMadeBy(work: () => Promise<unknown>): { made: number; done: Promise<unknown> } {
  let made = 0;
  const hook = createHook({
    init: (_id, type) => {
      if (type === 'PROMISE') made += 1;
    },
  });
  hook.enable();
  let done: Promise<unknown>;
  try {
    done = work();
  } finally {
    hook.disable();
  }
  return { made, done };
}

describe('the ioredis L2 getMany', () => {
  // Issue 15: the MGET command's own promise is the read's (its reply checked as ioredis converts
  // it): no `.then` on it, one promise and one turn of the microtask queue fewer on every L2 hit.
  it('makes one promise a read, as redis.mget does, with the same values', async () => {
    const redis = client();
    await redis.mset(`${prefix}g:a`, 'A', `${prefix}g:b`, '');
    for (const l2 of [createIoredisL2(redis), createIoredisL2(redisUrl)]) {
      const keys = [`${prefix}g:a`, `${prefix}g:none`, `${prefix}g:b`];
      await l2.getMany(keys);
      const raw = promisesMadeBy(() => redis.mget(keys));
      const read = promisesMadeBy(() => l2.getMany(keys));
      expect(await read.done).toEqual(['A', null, '']);
      expect(await read.done).toEqual(await raw.done);
      expect(read.made).toBe(raw.made);
      await l2.close();
    }
  });

  it("keeps a client's keyPrefix and reads the same values", async () => {
    const plain = client();
    await plain.set(`${prefix}gp:k`, 'v');
    const l2 = createIoredisL2(client({ keyPrefix: `${prefix}gp:` }));
    expect(await l2.getMany(['k', 'none'])).toEqual(['v', null]);
  });
});
