/**
 * Two isolates' L1 kept coherent by the Workers bus (the Upstash log bus createStrata wires), with
 * deletes, invalidateAll and sets interleaved, and the log lost while one isolate was idle (what
 * a Redis restart without persistence does to the stream), and a poll whose request never answers
 * (a Worker's fetch cancelled with the request that started it). Two env objects are two
 * instances, each with its own L1, as two isolates.
 */
import { env } from 'cloudflare:workers';
import { neon } from '@neondatabase/serverless';
import { defineSchema, type Strata } from '@strata/core';
import { drizzleMigrate } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CreateStrataOptions, createStrata } from '../src/index.js';
import { upstashCommand } from './support/upstash-rest.js';
import { waitFor } from './support/write-behind.js';

const tableName = uniqueName('bus_items');
const keyPrefix = uniqueName('bus');
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
const POLL_MS = 50;
const built = new Set<Strata>();
const realFetch = globalThis.fetch;
let release: (() => void) | undefined;
const isolate = (extra: Partial<CreateStrataOptions> = {}) => {
  const strata = createStrata(
    { ...env },
    { schemas: [items], keyPrefix, drizzleMigrate, coherence: { pollInterval: POLL_MS }, ...extra },
  );
  built.add(strata);
  return strata;
};

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

const names = async (s: Strata, ids: string[]) =>
  Promise.all(ids.map(async (id) => (await s.find(items, id))?.name ?? null));

describe('two isolates on the Workers log bus', () => {
  it('deletes, invalidateAll and sets interleaved from both: the reader converges on every key', async () => {
    const a = isolate();
    const b = isolate();
    const ids = ['k1', 'k2', 'k3', 'k4'];
    for (const id of ids) await a.set(items, { id, name: `${id}-v1` });
    expect(await names(b, ids)).toEqual(ids.map((id) => `${id}-v1`)); // all four in b's L1
    await a.delete(items, 'k1');
    await a.invalidateAll(items);
    await a.set(items, { id: 'k2', name: 'k2-v2' });
    await b.delete(items, 'k3');
    await a.set(items, { id: 'k4', name: 'k4-v2' });
    await Promise.all([a.settled(), b.settled()]);

    const want = [null, 'k2-v2', null, 'k4-v2'];
    await waitFor(
      'b converges',
      async () => JSON.stringify(await names(b, ids)) === JSON.stringify(want),
      3_000,
    );
    expect(await names(a, ids)).toEqual(want);
    expect(await names(isolate(), ids)).toEqual(want);
  });

  it('an isolate idle while the log and L2 were lost (a Redis restart without persistence) drops its stale L1', async () => {
    const a = isolate();
    const b = isolate();
    await a.set(items, { id: 'r1', name: 'r1-v1' });
    await a.set(items, { id: 'r2', name: 'r2-v1' });
    expect(await names(b, ['r1', 'r2'])).toEqual(['r1-v1', 'r2-v1']);
    await a.set(items, { id: 'r1', name: 'r1-v2' }); // its log entry is lost before b reads it
    await a.settled();
    const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
    expect(keys).toContain(`${keyPrefix}:invalidate:log`);
    await upstashCommand(upstash, ['DEL', ...keys]); // only this file's keys
    await a.set(items, { id: 'r2', name: 'r2-v2' });
    await a.settled();

    await waitFor(
      'b converges',
      async () => {
        const seen = await names(b, ['r1', 'r2']);
        return seen[0] === 'r1-v2' && seen[1] === 'r2-v2';
      },
      3_000,
    );
  });

  it('a poll that never answers does not stop the isolate polling the log', async () => {
    const writer = isolate();
    const reader = isolate({ timeouts: { l2: 300 } }); // the bus deadline
    await writer.set(items, { id: 'h1', name: 'v1' });
    expect(await reader.find(items, 'h1')).toMatchObject({ name: 'v1' }); // subscribed; in its L1

    const hold = holdNextLogRead();
    // The next read due to poll waits for it at most the bus deadline (300 ms), then answers L1's row.
    await waitFor('a poll is out', async () => {
      await reader.find(items, 'h1');
      return hold.held() > 0;
    });
    await writer.set(items, { id: 'h1', name: 'v2' });
    // Later requests: the isolate polls the log again and drops its copy.
    const seen = await waitFor(
      'the reader sees v2',
      async () => ((await reader.find(items, 'h1'))?.name === 'v2' ? 'v2' : false),
      5_000,
    );
    expect(seen).toBe('v2');
    expect(await isolate().find(items, 'h1')).toMatchObject({ name: 'v2' });
  });
});
