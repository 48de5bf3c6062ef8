import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { defineSchema, type Strata, type StrataConfig } from '@strata/core';
import type { ManualClock } from '@strata/core/driver';
import { integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { type AofRedis, startAofRedis } from './deployment-redis.js';
import { scratchApp } from './scratch-app.js';

/** A time no default gives: a held transaction's `f`, told apart from `defaultNow()`'s. */
export const T0 = new Date('2020-01-02T03:04:05.000Z');

/** One column per kind of client default: `$defaultFn` (d), a literal (e), `defaultNow()` (f), `$onUpdateFn` (g). */
const cols = {
  id: text('id').primaryKey(),
  a: integer('a'),
  b: text('b'),
  c: integer('c'),
  d: text('d').$defaultFn(() => 'fn'),
  e: text('e').default('lit'),
  f: timestamp('f', { withTimezone: true, mode: 'date' }).defaultNow(),
  g: text('g').$onUpdateFn(() => 'upd'),
};

/**
 * A scratch app (call inside a `describe`) over a table of every kind of client default, with its
 * write-behind and write-through schemas, Postgres' row of a key, the app's bus and the row a held
 * transaction sets (every column, none at its default): the regression-defaults-* files' setup.
 */
export function defaultsApp(label: string) {
  const scratch = scratchApp(label);
  const { pgName, admin, redisUrl, name } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  scratch.migrate(table);
  return {
    scratch,
    behind: defineSchema({ name: 'items', table, writeMode: 'write-behind' }),
    through: defineSchema({ name: 'items', table }),
    row: async (id: string) =>
      (await admin.query(`select id, a, b, c, d, e, f, g from "${pgName}".items where id = $1`, [id]))
        .rows[0] ?? null,
    bus: () => ({ bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) }),
    txRow: (id: string) => ({ id, a: 1, b: 'tx', c: 1, d: 'tx', e: 'tx', f: T0, g: 'tx' }),
  };
}

/**
 * Instances of a defaults app whose L2 and queue are on a Redis of the describe's own (AOF: a test
 * may kill, wipe and start it), each reconnecting at once after a restart; call inside a `describe`
 * after {@link defaultsApp}. `open`'s L1 TTL is below the generation refresh (REFRESH_PASSED): a
 * read after it asks L2, which finds a reset.
 * @example const own = onOwnRedis(app); const a = own.open(clock); await own.redis.kill();
 */
export function onOwnRedis({ scratch, behind }: ReturnType<typeof defaultsApp>) {
  let redis: AofRedis | undefined;
  const clients: Redis[] = [];
  beforeAll(async () => {
    redis = await startAofRedis();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  const own = {
    get redis(): AofRedis {
      if (!redis) throw new Error('onOwnRedis: the Redis starts in beforeAll');
      return redis;
    },
    open(clock: ManualClock, config: StrataConfig = {}): Strata {
      const client = new Redis(own.redis.url, {
        maxRetriesPerRequest: 0,
        protocol: 2,
        retryStrategy: () => 50,
      });
      client.on('error', () => {});
      clients.push(client);
      return scratch.strata({
        schemas: [behind],
        clock,
        ttl: { l1: '2s' },
        l2: createIoredisL2(client),
        writeBehind: { queue: createRedisStreamQueue({ url: own.redis.url, keyPrefix: scratch.name }) },
        ...config,
      });
    },
    /** Every instance's connection is ready again (after a restart). */
    reconnected: () =>
      expect.poll(() => clients.every((c) => c.status === 'ready'), { timeout: 5_000 }).toBe(true),
  };
  return own;
}
