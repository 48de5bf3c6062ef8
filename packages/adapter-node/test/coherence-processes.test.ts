import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { percentile } from '@strata/core/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, expect, it } from 'vitest';
import { createRedisPubSubBus } from '../src/redis-tcp/bus.js';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { scratch } from './support/scratch.js';

const store = scratch('coherence_proc');
const { name, redisUrl, databaseUrl, db } = store;
const reader = fileURLToPath(new URL('./fixtures/coherence-reader.mjs', import.meta.url));
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });

afterAll(() => store.cleanup());

it("a write in one Node process is gone from another process's L1: time to coherence over Redis pub/sub", async () => {
  const schema = defineSchema({ table, l1: { ttl: '10m' } });
  const a = new Strata({
    l2: createIoredisL2(redisUrl),
    l3: createDrizzleL3(db, { migrationsSchema: name }),
    coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: name }) },
    keyPrefix: name,
    schemas: [schema],
  });
  await a.migrate();
  await a.set(schema, { id: 'k', n: 0 });
  const proc = spawn(process.execPath, [reader, name, name, name, redisUrl, databaseUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(proc, 'exit');
  const seen = new Map<number, number>();
  const waiters = new Map<number, () => void>();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const [word, n, at] = line.split(' ');
    if (word === 'ready') ready();
    if (word === 'seen') {
      seen.set(Number(n), Number(at));
      waiters.get(Number(n))?.();
    }
  });
  const latencies: number[] = [];
  try {
    await isReady;
    await new Promise<void>((resolve) => {
      if (seen.has(0)) resolve();
      else waiters.set(0, resolve);
    });
    for (let n = 1; n <= 50; n++) {
      const arrived = new Promise<void>((resolve) => waiters.set(n, resolve));
      await a.set(schema, { id: 'k', n });
      const acknowledged = Date.now();
      await arrived;
      latencies.push(seen.get(n)! - acknowledged);
    }
  } finally {
    proc.kill('SIGTERM');
    await exited;
    await a.close();
  }
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.info(
    `[coherence redis-pubsub, 2 processes] p50 ${p50} ms, p99 ${p99} ms after the write was acknowledged`,
  );
  expect(latencies).toHaveLength(50);
}, 60_000);
