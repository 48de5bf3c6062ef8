import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { createIoredisL2 } from '../../src/redis-tcp/l2.js';
import { createRedisStreamQueue } from '../../src/redis-tcp/queue.js';
import { scratch } from './scratch.js';

/**
 * A write-behind `items` table whose dead letters a test can watch: real Redis Streams and real
 * Postgres in a scratch corner, each write retried once (`maxRetry: 1`) and flushed only when the
 * test says, the errors `onWriteError` was told of, and a Redis client of the test's own (`admin`).
 * After `prepare`, Postgres refuses a negative `n` for good (23514): a poison write.
 */
export function poisonItems(label: string) {
  const store = scratch(label);
  const { name, redisUrl, db } = store;
  const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const admin = new Redis(redisUrl);
  admin.on('error', () => {});
  const errors: unknown[] = [];
  const items = defineSchema({
    table,
    writeMode: 'write-behind',
    hooks: { onWriteError: (_id, err) => void errors.push(err) },
  });
  /** An instance of the app whose queue is `stream`, read by `consumer`. */
  const instance = (stream: string, consumer: string) =>
    new Strata({
      l2: createIoredisL2(redisUrl),
      l3: createDrizzleL3(db, { migrationsSchema: name }),
      writeBehind: {
        queue: createRedisStreamQueue({
          url: redisUrl,
          keyPrefix: name,
          stream,
          consumer,
          allowVolatile: true,
        }),
        maxRetry: 1,
        threshold: 1_000_000,
      },
      keyPrefix: name,
      schemas: [items],
    });
  return {
    ...store,
    table,
    admin,
    errors,
    items,
    instance,
    /** Migrates through `strata`, then makes a negative `n` a poison write. */
    async prepare(strata: Strata) {
      await strata.migrate();
      await db.execute(sql.raw(`alter table "${name}"."items" add constraint n_positive check (n >= 0)`));
    },
    /** Deletes the `dead` streams, then the scratch schema and keys. */
    async cleanup(...dead: string[]) {
      if (dead.length > 0) await admin.del(...dead);
      admin.disconnect();
      await store.cleanup();
    },
  };
}
