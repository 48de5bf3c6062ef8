import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { defineSchema, type L2Tier } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';
import { losingL3 } from '../support/wrap-l3.js';

// `get(…, { complete: true })` of a key with a queued write-behind write reads that key's entries
// of the pending index (one PENDING `peek`), not the whole index: the whole index is up to 6,000
// fields, and past 1,000 queued writes (a search's bound) it threw, so a complete get failed under
// an ordinary backlog. Failed before (engine/complete-read.ts read `pendingWrites`) with
//   StrataError: strata: schema items: 1101 write-behind writes wait for their flush (a search reads 1000 at most)
// (QUEUE_UNAVAILABLE), for the writer and for a write-through instance of the same app alike.

const cols = {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
  hidden: text('hidden'),
  b: text('b'),
  c: integer('c'),
};
const BACKLOG = 1_100;
/** One of the other keys' rows, as Postgres holds it after the flush. */
const o7 = { id: 'o7', n: 7, hidden: null, b: null, c: null };

/** The real L2, with the scripts each call ran (name and first argument) recorded. */
function recorded(l2: L2Tier): L2Tier & { calls: string[] } {
  const tier = {
    name: l2.name,
    calls: [] as string[],
    getMany: (keys: readonly string[]) => {
      tier.calls.push('getMany');
      return l2.getMany(keys);
    },
    run: (...call: Parameters<L2Tier['run']>) => {
      tier.calls.push(`${call[0].name} ${call[2][0] ?? ''}`.trim());
      return l2.run(...call);
    },
    close: () => l2.close(),
  };
  return tier;
}

describe('a complete read under a write-behind backlog', () => {
  const scratch = scratchApp('complete_backlog');
  const { pgName, redisUrl } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  const fields = { hidden: { omitCache: true } };
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind', fields });
  const through = defineSchema({ name: 'items', table, fields });
  scratch.migrate(table);

  it.each([
    ['the writer', behind],
    ['a write-through instance of the app', through],
  ] as const)(
    "answers the key's queued write with one peek of its entry (%s)",
    async (_who, schema) => {
      const l2 = recorded(createIoredisL2(redisUrl));
      const worker = scratch.strata({ schemas: [behind], ...(schema === behind && { l2 }) });
      const reader = schema === behind ? worker : scratch.strata({ schemas: [through], l2 });
      await worker.set(behind, { id: 'k', n: 1, hidden: 'h1' });
      await worker.flushDirty();
      const others = Array.from({ length: BACKLOG }, (_, i) => ({ id: `o${i}`, n: i, hidden: null }));
      await worker.setMany(behind, others);
      // A partial set over a whole one, both queued: the complete read lays them as the flush will.
      await worker.set(behind, { id: 'k', n: 2, hidden: 'h2' });
      await worker.set(behind, { id: 'k', n: 3 });
      // The reader's generation is read (and the app's counter seen) before the count.
      await reader.find(schema, 'nothing');
      const from = l2.calls.length;
      expect(await reader.find(schema, 'k', { complete: true })).toMatchObject({
        id: 'k',
        n: 3,
        hidden: 'h2',
      });
      expect(l2.calls.slice(from)).toEqual(['pending peek']);
      expect(await reader.find(schema, 'o7', { complete: true })).toEqual(o7);
      await worker.delete(behind, 'k');
      expect(await reader.find(schema, 'k', { complete: true })).toBeNull();
      await worker.flushDirty();
      expect(await reader.find(schema, 'k', { complete: true })).toBeNull();
      expect(await reader.find(schema, 'o7', { complete: true })).toEqual(o7);
    },
    60_000,
  );

  // A partial set over a queued write a mark covers (a transaction whose outcome is unknown) carries
  // that write beneath its own columns (the `<` field of its entry, see engine/pending-beneath.ts):
  // the complete read lays it as the flush applies it, as a search does
  // (regression-search-beneath.test.ts).
  it('lays the writes a queued set carries beneath it', async () => {
    const losing = losingL3(createDrizzleL3(scratch.db, { migrationsSchema: pgName }));
    const worker = scratch.strata({ schemas: [behind], l3: losing.l3 });
    const api = scratch.strata({ schemas: [through] });
    await worker.set(behind, { id: 'u', n: 1, hidden: 'h', b: 'old', c: 1 });
    await worker.flushDirty();
    await worker.set(behind, { id: 'u', n: 2, b: 'set' });
    losing.loseNext();
    await expect(worker.tx().set(behind, { id: 'u', n: 9 }).commit()).rejects.toThrow();
    await worker.set(behind, { id: 'u', n: 2, c: 3 });
    const before = [
      await worker.find(behind, 'u', { complete: true }),
      await api.find(through, 'u', { complete: true }),
    ];
    await worker.flushDirty();
    const after = (await scratch.admin.query(`select * from "${pgName}".items where id = 'u'`)).rows[0];
    expect(after).toMatchObject({ b: 'set', c: 3 });
    expect(before).toEqual([after, after]);
  });
});
