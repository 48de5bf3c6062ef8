import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';

// Probe (helper "breaker"): `get(…, { complete: true })` of a write-behind schema with omitCache
// columns while a write of the key is queued. The complete read went to Postgres alone
// (get-calls.ts readComplete), so it answered the row Postgres held before the queued write, on
// the writer too (a pending delete's deleted row included), while `get` and `search` answered the
// write. Failed before the fix (engine/complete-read.ts: the key's queued writes laid over
// Postgres, as a search reads them) at its first read, for both readers, with
//   AssertionError: expected null to deeply equal { id: 'k-writer', n: 1, …(3) }
// (the queued insert was not answered); over a flushed row it answered that row
// ({ n: 1, hidden: 'h1', … } for { n: 2, hidden: 'h2', … }), and after the queued delete the
// deleted row instead of null.

const KEY = Buffer.alloc(32, 7).toString('base64');
const cols = {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
  hidden: text('hidden'),
  low: text('low'),
  secret: text('secret'),
};

describe('a complete read of a key with a queued write-behind write', () => {
  const scratch = scratchApp('complete_pending');
  const { pgName, redisUrl, name } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  const behind = defineSchema({
    name: 'items',
    table,
    writeMode: 'write-behind',
    fields: { hidden: { omitCache: true }, low: { omitL1: true }, secret: { encrypted: true } },
  });
  scratch.migrate(table);

  it.each(['writer', 'other'])('answers the queued writes (read by the %s instance)', async (who) => {
    const id = `k-${who}`;
    const bus = () => ({
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
    const a = scratch.strata({ schemas: [behind], encryptionKey: KEY, ...bus() });
    const b = scratch.strata({ schemas: [behind], encryptionKey: KEY, ...bus() });
    const reader = who === 'writer' ? a : b;
    const complete = () => reader.find(behind, id, { complete: true });
    // A new key, queued only.
    await a.set(behind, { id, n: 1, hidden: 'h1', low: 'l1', secret: 's1' });
    expect(await complete()).toEqual({ id, n: 1, hidden: 'h1', low: 'l1', secret: 's1' });
    await a.flushDirty();
    // A whole set queued over the flushed row.
    await a.set(behind, { id, n: 2, hidden: 'h2', low: 'l2', secret: 's2' });
    expect(await complete()).toEqual({ id, n: 2, hidden: 'h2', low: 'l2', secret: 's2' });
    // A partial set over it: the columns it leaves out keep the queued ones.
    await a.set(behind, { id, n: 3 });
    expect(await complete()).toEqual({ id, n: 3, hidden: 'h2', low: 'l2', secret: 's2' });
    // A queued delete: no row.
    await a.delete(behind, id);
    expect(await complete()).toBeNull();
    await a.flushDirty();
    expect(await complete()).toBeNull();
  });
});
