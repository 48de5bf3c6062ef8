import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { lapseWriterClaims } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, expect, it } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { createRedisStreamQueue } from '../src/redis-tcp/queue.js';
import { scratch } from './support/scratch.js';

// Prints sets/s for both write modes and L3 statements per 1,000 sets. A measurement for the
// record (bench/ holds the targets); the assertions only check that every write landed.
const statements: string[] = [];
const store = scratch('modes', (q) => void statements.push(q));
const { name, redisUrl, db } = store;
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });

afterAll(() => store.cleanup());

it('write-behind vs write-through: sets per second and L3 statements per 1,000 sets', async () => {
  const N = 1_000;
  const results: Record<string, { perSecond: number; statements: number }> = {};
  for (const mode of ['write-through', 'write-behind'] as const) {
    const schema = defineSchema({ table, writeMode: mode });
    const strata = new Strata({
      l2: createIoredisL2(redisUrl),
      l3: createDrizzleL3(db, { migrationsSchema: name }),
      // allowVolatile: this machine's Redis has no AOF (see RedisStreamQueueOptions.allowVolatile).
      writeBehind: {
        queue: createRedisStreamQueue({
          url: redisUrl,
          keyPrefix: `${name}-${mode}`,
          stream: `${name}:${mode}`,
          allowVolatile: true,
        }),
        threshold: 1_000_000, // flush once, at the end, to count statements per batch
      },
      keyPrefix: `${name}-${mode}`,
      schemas: [schema],
    });
    await strata.migrate();
    statements.length = 0;
    const started = performance.now();
    for (let i = 0; i < N; i++) await strata.set(schema, { id: `${mode}-${i % 100}`, n: i });
    const elapsed = performance.now() - started;
    await strata.flushDirty();
    results[mode] = { perSecond: Math.round(N / (elapsed / 1000)), statements: statements.length };
    await strata.close();
    // The next mode is another app (keyPrefix) on the table: this one's claim lapses, as a stopped
    // app's would (docs/semantics.md, "One writer per table").
    await lapseWriterClaims(store.pool, name);
  }
  const rows = await db.select().from(table);
  expect(
    rows
      .filter((r) => r.id.startsWith('write-behind-'))
      .map((r) => r.n)
      .sort((a, b) => a - b),
  ).toEqual(Array.from({ length: 100 }, (_, i) => 900 + i).sort((a, b) => a - b));
  console.info(
    `[write modes] write-through ${results['write-through']!.perSecond} sets/s (${results['write-through']!.statements} L3 statements per ${N}); ` +
      `write-behind ${results['write-behind']!.perSecond} sets/s (${results['write-behind']!.statements} L3 statements per ${N}, 100 keys)`,
  );
}, 60_000);
