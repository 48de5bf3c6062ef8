import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isStrataError } from '@strata/core';
import type { QueuedWrite } from '@strata/core/driver';
import { strataRejection } from '@strata/core/testing';
import { freePort } from '@strata/devstack';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  createRedisStreamQueue,
  type RedisStreamQueue,
  type RedisStreamQueueOptions,
} from '../src/redis-tcp/queue.js';
import { killOwnRedisServers, type OwnRedis, startOwnRedis } from './support/own-redis-server.js';

// Issue 12, item 10: with a Redis without persistence a restart lost 200 of 200 acknowledged writes
// and nothing said so. The queue now checks INFO persistence and refuses a Redis without AOF.

const machine = new URL(serviceUrls().redisUrl);
const admin = new Redis(machine.href, { protocol: 2 });
admin.on('error', () => {});
const write = (i: number): QueuedWrite => ({ schema: 's', id: `w${i}`, op: 'delete', version: i + 1 });
const writes = (n: number) => Array.from({ length: n }, (_, i) => write(i));

const opened: RedisStreamQueue[] = [];
const dirs: string[] = [];
let keys: string[] = [];
const open = (options: RedisStreamQueueOptions): RedisStreamQueue => {
  const queue = createRedisStreamQueue(options);
  opened.push(queue);
  return queue;
};
afterEach(async () => {
  await Promise.all(opened.splice(0).map((q) => q.close()));
  if (keys.length > 0) await admin.del(...keys);
  keys = [];
});
afterAll(async () => {
  await killOwnRedisServers();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  await admin.quit();
});

/** A fresh namespace on this machine's Redis; its stream and dead letters are deleted after the test. */
function namespace(label: string): string {
  const prefix = uniqueName(label);
  keys.push(`${prefix}:writes`, `${prefix}:writes:dead`);
  return prefix;
}

/** A temp dir and a free loopback port for a redis-server of this test's own (removed in afterAll). */
async function place(): Promise<{ dir: string; port: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-queue-durability-'));
  dirs.push(dir);
  return { dir, port: await freePort() };
}

/** Enqueues `n` writes one by one: each has been acknowledged once its call resolved. */
async function enqueueAcknowledged(queue: RedisStreamQueue, n: number): Promise<void> {
  for (const w of writes(n)) await queue.enqueue([w]);
}

describe("this machine's Redis (appendonly no)", () => {
  it('refuses to enqueue without allowVolatile: INVALID_CONFIG naming host:port, nothing added', async () => {
    const keyPrefix = namespace('volatile_refused');
    // A password in the URL (this Redis needs none, and ioredis goes on) must not reach the message.
    const url = new URL(machine.href);
    url.password = 's3cret-pw';
    const queue = open({ url: url.href, keyPrefix });
    const error = await strataRejection(queue.enqueue(writes(3)));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toContain(
      `the Redis at ${machine.hostname}:${machine.port || 6379} has no append-only file`,
    );
    expect(error.message).toContain(
      'appendonly yes (appendfsync always loses nothing even on power loss, everysec at most the last second)',
    );
    expect(error.message).toContain('allowVolatile: true');
    expect(error.message).not.toContain('s3cret');
    expect(await admin.exists(queue.stream)).toBe(0);
    expect(await admin.xlen(queue.stream)).toBe(0);
    expect(queue.stats().durability).toBe('volatile');
    // The answer is kept: the next call refuses the same way.
    expect(isStrataError(await strataRejection(queue.checkDurability()), 'INVALID_CONFIG')).toBe(true);
  });

  it('takes writes with allowVolatile: true, and says they are volatile', async () => {
    const queue = open({ url: machine.href, keyPrefix: namespace('volatile_allowed'), allowVolatile: true });
    expect(queue.stats().durability).toBe('unchecked');
    await queue.enqueue(writes(3));
    expect(queue.stats().durability).toBe('volatile');
    expect(await queue.checkDurability()).toBe('volatile');
    expect((await queue.take(10)).map((d) => d.write)).toEqual(writes(3));
  });
});

describe('the scripted side (colocated.ready), asked before every one-round-trip write-behind set', () => {
  it('waits for the check once, then answers with nothing to wait for; refuses once closed or refused', async () => {
    const queue = open({ url: machine.href, keyPrefix: namespace('ready_volatile'), allowVolatile: true });
    const first = queue.colocated!.ready();
    expect(first).toBeInstanceOf(Promise);
    await first;
    expect(queue.colocated!.ready()).toBeUndefined();
    await queue.close();
    expect((await strataRejection(queue.colocated!.ready()!)).code).toBe('QUEUE_UNAVAILABLE');
    // A refused Redis (no AOF, allowVolatile off) is refused on every call, never answered with undefined.
    const refused = open({ url: machine.href, keyPrefix: namespace('ready_refused') });
    for (let i = 0; i < 2; i++) {
      const ready = refused.colocated!.ready();
      expect(ready).toBeInstanceOf(Promise);
      expect((await strataRejection(ready!)).code).toBe('INVALID_CONFIG');
    }
  });
});

describe('a redis-server of its own, killed with SIGKILL and started again on the same dir and port', () => {
  /** Kills `redis`, starts it again, and returns what a fresh queue on `keyPrefix` can take. */
  async function restartAndTake(
    redis: OwnRedis,
    dir: string,
    port: number,
    args: string[],
    keyPrefix: string,
  ) {
    await redis.kill();
    const again = await startOwnRedis(dir, port, args);
    const after = open({ url: again.url, keyPrefix, allowVolatile: true });
    const pending = await after.pending();
    const taken = await after.take(1_000);
    return { pending, ids: taken.map((d) => d.write.id) };
  }

  it('appendonly yes, appendfsync always: checkDurability reports aof and all 200 acknowledged writes survive', async () => {
    const { dir, port } = await place();
    const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
    const redis = await startOwnRedis(dir, port, args);
    const keyPrefix = uniqueName('aof');
    const queue = open({ url: redis.url, keyPrefix });
    expect(await queue.checkDurability()).toBe('aof');
    expect(queue.stats().durability).toBe('aof');
    await enqueueAcknowledged(queue, 200);
    const { pending, ids } = await restartAndTake(redis, dir, port, args, keyPrefix);
    expect(pending).toBe(200);
    expect(ids).toEqual(writes(200).map((w) => w.id));
  });

  it('appendonly no, no snapshots: refused by default; with allowVolatile a restart loses all 200 (the stated risk)', async () => {
    const { dir, port } = await place();
    const args = ['--appendonly', 'no', '--save', ''];
    const redis = await startOwnRedis(dir, port, args);
    const keyPrefix = uniqueName('volatile');
    const refused = await strataRejection(open({ url: redis.url, keyPrefix }).checkDurability());
    expect(refused.code).toBe('INVALID_CONFIG');
    expect(refused.message).toContain(`the Redis at 127.0.0.1:${port} has no append-only file`);
    const queue = open({ url: redis.url, keyPrefix, allowVolatile: true });
    expect(await queue.checkDurability()).toBe('volatile');
    await enqueueAcknowledged(queue, 200);
    expect(await queue.pending()).toBe(200);
    // If the check ever called such a Redis durable, this is what its users would lose.
    expect(await restartAndTake(redis, dir, port, args, keyPrefix)).toEqual({ pending: 0, ids: [] });
  });
});

describe('when Redis will not say or cannot answer', () => {
  it('a server that refuses INFO is refused too ("could not be checked"); allowVolatile takes writes, unchecked', async () => {
    const { dir, port } = await place();
    // As some managed Redis do: INFO renamed away, even though this one has AOF on.
    const redis = await startOwnRedis(dir, port, [
      '--appendonly',
      'yes',
      '--rename-command',
      'INFO',
      'no-info-here',
    ]);
    const keyPrefix = uniqueName('no_info');
    // ioredis's ready check sends INFO too: without INFO a client has to turn it off.
    const redisOptions = { enableReadyCheck: false };
    const queue = open({ url: redis.url, keyPrefix, redisOptions });
    const error = await strataRejection(queue.enqueue(writes(1)));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toMatch(
      new RegExp(`the Redis at 127\\.0\\.0\\.1:${port} refused INFO .*could not be checked`),
    );
    expect(queue.stats().durability).toBe('unchecked');
    expect(await queue.pending()).toBe(0);
    const allowed = open({ url: redis.url, keyPrefix, redisOptions, allowVolatile: true });
    await allowed.enqueue(writes(1));
    expect(allowed.stats().durability).toBe('unchecked');
    expect(await allowed.pending()).toBe(1);
  });

  it('a failed INFO call is not kept: once Redis is up, the next enqueue checks again and goes through', async () => {
    const { dir, port } = await place();
    const client = new Redis(`redis://127.0.0.1:${port}`, {
      protocol: 2,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 20,
    });
    client.on('error', () => {});
    try {
      const queue = open({ redis: client, keyPrefix: uniqueName('late') });
      const down = await queue.enqueue(writes(1)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(down).toBeInstanceOf(Error);
      expect(isStrataError(down)).toBe(false); // a connection failure, not a verdict on the Redis
      expect(queue.stats().durability).toBe('unchecked');
      await startOwnRedis(dir, port, ['--appendonly', 'yes', '--save', '']);
      if (client.status !== 'ready') await once(client, 'ready');
      await queue.enqueue(writes(1));
      expect(queue.stats().durability).toBe('aof');
      expect(await queue.pending()).toBe(1);
    } finally {
      client.disconnect();
    }
  });
});
