import { defineSchema, isStrataError } from '@strata/core';
import { busProbe, sampleInvalidation } from '@strata/core/testing';
import { freePort } from '@strata/devstack';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createStrata } from '../src/create-strata.js';
import { createRedisPubSubBus } from '../src/redis-tcp/bus.js';
import { createRedisStreamQueue } from '../src/redis-tcp/queue.js';

// A Redis that refuses connections: every connection Strata opens itself says which Redis and why,
// not ioredis' "Reached the max retries per request limit (which is 0). Refer to
// "maxRetriesPerRequest" option", which points at an option that is not the problem.

const { databaseUrl } = serviceUrls();
const name = uniqueName('redis_unreachable');
const table = pgSchema(name).table('writes', { id: text('id').primaryKey(), n: integer('n').notNull() });
const writes = defineSchema({ table, writeMode: 'write-behind' });

/** Says which Redis could not be reached, and why; the ioredis error stays the cause. */
function expectUnreachable(error: unknown, port: number): void {
  const message = typeof error === 'string' ? error : (error as Error).message;
  expect(message).toContain(
    `Redis at 127.0.0.1:${port} is unreachable (connect ECONNREFUSED 127.0.0.1:${port})`,
  );
  expect(message).not.toMatch(/maxRetriesPerRequest|max retries/);
}

const rejection = (work: Promise<unknown>): Promise<unknown> =>
  work.then(
    () => expect.unreachable('resolved'),
    (e: unknown) => e,
  );

afterAll(async () => {
  // Only the migrations schema createStrata may have made, and nothing else.
  const node = await createStrata({ databaseUrl, schemas: [], keyPrefix: name, handleSignals: false });
  await node.db.execute(sql.raw(`drop schema if exists "${name}" cascade`));
  await node.shutdown();
});

describe('a Redis that refuses connections', { timeout: 10_000 }, () => {
  it('the Redis Stream queue: each call names the Redis, the ioredis error as cause', async () => {
    const port = await freePort(); // nothing listens there
    const queue = createRedisStreamQueue({
      url: `redis://127.0.0.1:${port}`,
      keyPrefix: name,
      allowVolatile: true,
    });
    try {
      const write = { schema: 'writes', id: 'a', op: 'set' as const, row: '{"id":"a"}', version: 1 };
      for (const call of [
        () => queue.enqueue([write]),
        () => queue.checkDurability(),
        () => queue.take(10),
        () => queue.pending(),
      ]) {
        const error = await rejection(call());
        expectUnreachable(error, port);
        expect(String(((error as Error).cause as Error).message)).toMatch(/max retries per request limit/);
      }
    } finally {
      await queue.close();
    }
  });

  it('the pub/sub bus: subscribe and publish name the Redis', async () => {
    const port = await freePort();
    const bus = createRedisPubSubBus({ url: `redis://127.0.0.1:${port}`, channel: `${name}:c` });
    try {
      expectUnreachable(await rejection(bus.subscribe(busProbe())), port);
      expectUnreachable(await rejection(bus.publish(sampleInvalidation('1'))), port);
    } finally {
      await bus.close();
    }
  });

  it('createStrata: the start-up warning and a write-behind set say which Redis, with the same codes', async () => {
    const port = await freePort();
    const warnings: { message: string; error: string }[] = [];
    const logger = {
      debug() {},
      info() {},
      error() {},
      warn: (message: string, meta?: Record<string, unknown>) =>
        void warnings.push({ message, error: String(meta?.error) }),
    };
    const node = await createStrata({
      databaseUrl,
      redisUrl: `redis://:secret@127.0.0.1:${port}`,
      schemas: [writes],
      keyPrefix: name,
      migrationsSchema: name,
      handleSignals: false,
      logger,
    });
    let shutdown: Promise<unknown> | undefined;
    try {
      const durability = warnings.find((w) => w.message.startsWith('Redis Stream queue'));
      expectUnreachable(durability?.error, port);
      // The write's L2 script (its queue entries ride in it) cannot run: L2_UNAVAILABLE, as before.
      const error = await rejection(node.strata.set(writes, { id: 'a', n: 1 }));
      expect(isStrataError(error, 'L2_UNAVAILABLE'), String(error)).toBe(true);
      expectUnreachable(error, port);
      expect((error as Error).message).not.toContain('secret');
    } finally {
      shutdown = rejection(node.shutdown());
    }
    // Its final flush cannot reach the queue: the shutdown says so, in the same words.
    const error = await shutdown;
    expect(isStrataError(error, 'QUEUE_UNAVAILABLE')).toBe(true);
    expectUnreachable(error, port);
  });
});
