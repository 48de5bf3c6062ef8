/**
 * A log-bus poll whose request never answers. In a Worker, I/O started by a request is cancelled
 * when that request ends (its response sent, its waitUntil settled), and a cancelled fetch's
 * promise never settles: a poll that outlived its deadline in one request (the read went on
 * without it, as it must) is then out forever. The isolate must still poll the log for later
 * requests. Here the log read's fetch is held (global fetch wrapped) for the whole test, as a
 * cancelled one would be, in a reader isolate built as a deployed Worker builds it (createStrata).
 */
import { env } from 'cloudflare:workers';
import { neon } from '@neondatabase/serverless';
import { defineSchema, type Strata } from '@strata/core';
import { drizzleMigrate } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStrata } from '../src/index.js';
import { upstashCommand } from './support/upstash-rest.js';
import { waitFor } from './support/write-behind.js';

const tableName = uniqueName('bus_cancel_items');
const keyPrefix = uniqueName('bus_cancel');
const items = defineSchema({
  table: pgTable(tableName, {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    level: integer('level').notNull().default(1),
  }),
  l1: { ttl: '10m' },
  l2: { ttl: '10m' },
});
const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const realFetch = globalThis.fetch;
const built = new Set<Strata>();
const isolate = () => {
  const strata = createStrata(
    { ...env },
    { schemas: [items], keyPrefix, drizzleMigrate, coherence: { pollInterval: 20 }, timeouts: { l2: 300 } },
  );
  built.add(strata);
  return strata;
};
let release: (() => void) | undefined;

beforeAll(async () => {
  await isolate().migrate();
});
afterAll(async () => {
  globalThis.fetch = realFetch;
  release?.();
  for (const strata of built) await strata.close();
  await neon(env.DATABASE_URL).query(`drop table if exists "${tableName}"`);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
});

/** The next read of the invalidation log (its script runs XINFO) is held until `release`. */
function holdNextLogRead() {
  let held = 0;
  const cancelled = new Promise<never>((_, reject) => {
    release = () => reject(new Error('released at the end of the test'));
  });
  cancelled.catch(() => {});
  globalThis.fetch = async (input, init) => {
    const body = typeof init?.body === 'string' ? init.body : '';
    if (held === 0 && body.includes('XINFO')) {
      held += 1;
      return cancelled;
    }
    return realFetch(input, init);
  };
  return { held: () => held };
}

it('a poll that never answers does not stop the isolate polling the log', async () => {
  const writer = isolate();
  const reader = isolate();
  await writer.set(items, { id: 'k1', name: 'v1' });
  expect(await reader.find(items, 'k1')).toMatchObject({ name: 'v1' }); // subscribed; in its L1

  const hold = holdNextLogRead();
  // The next read due to poll waits for it at most the bus deadline (300 ms), then answers L1's row.
  await waitFor('a poll is out', async () => {
    await reader.find(items, 'k1');
    return hold.held() > 0;
  });
  await writer.set(items, { id: 'k2', name: 'v1' }); // still inside the deadline: any order works
  await writer.set(items, { id: 'k1', name: 'v2' });
  // Later requests: the isolate polls the log again and drops its copy.
  const seen = await waitFor(
    'the reader sees v2',
    async () => ((await reader.find(items, 'k1'))?.name === 'v2' ? 'v2' : false),
    5_000,
  );
  expect(seen).toBe('v2');
  expect(await isolate().find(items, 'k1')).toMatchObject({ name: 'v2' });
});
