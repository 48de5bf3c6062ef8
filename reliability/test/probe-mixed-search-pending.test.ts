import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Q } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';

// Probe (helper "breaker"): one app running a schema in both modes (a write-through API beside a
// write-behind worker on one keyPrefix: semantics.md, "One version order per app"). The worker
// queues writes (an update, a delete, an insert); before their flush, the API instance's `search`,
// `searchCached`, `count` and `find(…, { complete: true })` read Postgres alone: it listed the
// deleted row and the older one, missed the insert; `find` answered the queued writes (L2). Its
// `searchCached` list is stored under the schema's search generation, which both modes share, so
// the WORKER's own `searchCached` then answered that list too, without its own acknowledged writes,
// until the next write of the schema moved the generation. Failed before the fix with
//   AssertionError: expected [ { id: 'gone', n: 1 }, …(1) ] to deeply equal [ { id: 'added', n: 7 }, …(1) ]
// Fix (helper "mixed"): `pendingWrites` (engine/pending-index.ts) and the complete read
// (engine/complete-read.ts) read the pending index also for a write-through schema whose app has a
// write-behind counter (`readsPending`: `ThroughOrder.mayQueue`, no request for an app with none).

const cols = { id: text('id').primaryKey(), n: integer('n').notNull(), hidden: text('hidden') };

describe('a write-through instance of an app that also runs the schema write-behind', () => {
  const scratch = scratchApp('mixed_search_pending');
  const { pgName, redisUrl, name } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  const fields = { hidden: { omitCache: true } };
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind', fields });
  const through = defineSchema({ name: 'items', table, fields });
  scratch.migrate(table);

  it("searches the worker's queued writes as applied, and caches no list without them", async () => {
    const bus = () => ({
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
    const worker = scratch.strata({ schemas: [behind], ...bus() });
    const api = scratch.strata({ schemas: [through], ...bus() });
    await worker.set(behind, { id: 'k', n: 1, hidden: 'h1' });
    await worker.set(behind, { id: 'gone', n: 1, hidden: 'g' });
    await worker.flushDirty();
    await worker.set(behind, { id: 'k', n: 2, hidden: 'h2' });
    await worker.delete(behind, 'gone');
    await worker.set(behind, { id: 'added', n: 7, hidden: 'h7' });
    const q = Q().orderBy('id').build();
    const cached = [
      { id: 'added', n: 7 },
      { id: 'k', n: 2 },
    ];
    // `find` answers the queued writes (their pending rows in L2).
    expect(await api.getMany(through, ['k', 'gone', 'added'])).toEqual([cached[1], null, cached[0]]);
    expect(await worker.searchCached(behind, Q().orderBy('id').limit(50).build())).toEqual(cached);
    expect(await api.searchCached(through, q)).toEqual(cached);
    // The list the API cached is the worker's too (one search generation).
    expect(await worker.searchCached(behind, q)).toEqual(cached);
    expect((await api.search(through, q)).map(({ id, n }) => ({ id, n }))).toEqual(cached);
    expect(await api.count(through, q)).toBe(2);
    expect(await api.find(through, 'k', { complete: true })).toEqual({ id: 'k', n: 2, hidden: 'h2' });
  });
});
