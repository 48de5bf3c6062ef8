/**
 * A Redis reset found by a Worker request that then ended. The reset puts this isolate's unflushed
 * write-behind writes back into L2 (`restoreOwnPending`, one restore at a time: `RestoreChain`),
 * and reads of L2 wait for that restore, or they would read Postgres below the isolate's own
 * acknowledged writes. The restore's first call (its Postgres read) is held here, as workerd
 * cancels the fetches of a request that ended; a later request in the isolate must still answer,
 * and its own write must still be read back (put back by a restore of its own).
 */
import { env } from 'cloudflare:workers';
import type { Strata } from '@strata/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { installRequestApp } from './fixtures/request-app.js';
import { wbStrata } from './fixtures/wb-app.js';
import { holdNext, request, wrapFetch } from './support/cut-short.js';
import { keptQueue } from './support/kept-queue.js';
import { upstashCommand } from './support/upstash-rest.js';
import { type WbTestTable, wbTestTable } from './support/write-behind.js';

const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
/** The write-behind queue: kept, never consumed, so the writes stay unflushed (this isolate's own). */
const kept = keptQueue();
let table: WbTestTable;
/** The Strata the requests share, as a Worker's module scope holds it. */
let strata: Strata;

const find = async (id: string) =>
  Response.json({ name: (await strata.find(table.schema, id))?.name ?? null });

let uninstall: () => void;
let unwrap: () => void;
beforeAll(async () => {
  table = await wbTestTable('cut_restore');
  unwrap = wrapFetch();
  uninstall = installRequestApp(async (req) => {
    const url = new URL(req.url);
    const id = url.searchParams.get('id') ?? '';
    if (url.pathname === '/set') {
      await strata.set(table.schema, { id, name: url.searchParams.get('name') ?? '', level: 0, note: null });
      return Response.json('written');
    }
    if (url.pathname === '/lead') {
      // A read that finds the reset and starts the restore; answers once its fetch is held.
      const held = holdNext(url.searchParams.get('hold') ?? id);
      void strata.find(table.schema, id).catch(() => {});
      await held;
      return Response.json('left running');
    }
    return find(id);
  });
});
afterAll(async () => {
  uninstall?.();
  unwrap?.();
  // Bounded: its restore may be held by a fetch that never settles (as cancelled ones).
  await Promise.race([strata?.close(), new Promise((r) => setTimeout(r, 2_000))]);
  await table.cleanup();
});

// The reset's restore was shared by every read of L2 without a bound (`RestoreChain.running`):
// held with the request that found the reset, it held every later read of the schema.
it("a Redis reset found by a request that ended: the next request's read answers, and reads its own write back", async () => {
  strata = wbStrata(env, {
    keyPrefix: table.keyPrefix,
    schemas: [table.schema],
    queue: kept.producer,
    timeouts: { l2: 300, l3: 1_000, queue: 500 },
  });
  expect(await request('/set?id=r1&name=own-v1')).toBe('written'); // queued, not flushed
  expect(await request('/find?id=r0')).toEqual({ name: null });
  expect(kept.bodies).toHaveLength(1);
  // The app's keys gone, as a Redis that restarted empty (this app's keys only: Redis is shared).
  const keys = (await upstashCommand(upstash, ['KEYS', `${table.keyPrefix}:*`])) as string[];
  expect(keys.length).toBeGreaterThan(0);
  await upstashCommand(upstash, ['DEL', ...keys]);
  // Its read finds the reset; the restore's Postgres read of r1 is held, then cut short.
  expect(await request('/lead?id=r2&hold="r1"')).toBe('left running');
  expect(await request('/find?id=r3', 8_000)).toEqual({ name: null });
  expect(await request('/find?id=r1')).toEqual({ name: 'own-v1' });
  // Put back by a restore of a live request: queued again, flagged as restored.
  expect(kept.bodies).toContainEqual(expect.objectContaining({ id: 'r1', restored: true }));
});
