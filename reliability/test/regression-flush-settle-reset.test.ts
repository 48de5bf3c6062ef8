import { createMemoryQueue, defineSchema } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';

// A write-behind flush (A, v1) commits in Postgres and its reply is held, before its settle (the PUT
// that lays the row as Postgres applied it into L2 and takes it out of the pending index). B sets
// the key after it (v2: Postgres and L2). Then Redis is reset (B's copy lost) and A's flush goes on:
// its settle's PUT found the reset and was made again in the new life with v1's row, where nothing
// at v2 refused it; or, A having found the reset first (another call), it was sent into the new
// life as if nothing had happened. The flush passed no `since` to `SchemaCache.commit`, so the late-marker rule of
// write-through commits (reset-since.ts) did not hold for it. Now a flush takes the resets its
// buckets' watches had seen before its Postgres write, and a settle that finds one since leaves a
// superseded marker at v1 (readers fill from Postgres), never the row.

const cols = { id: text('id').primaryKey(), n: integer('n').notNull() };

describe("a write-behind flush's settle, the newer copy lost by a reset", () => {
  const scratch = scratchApp('flush_settle_reset');
  const { pgName, db, wipe } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  scratch.migrate(table);

  it.each([
    ['write-through', 'its reply'],
    ['write-behind', 'its reply'],
    ['write-through', 'another call first'],
  ] as const)(
    "B's newer write %s, a reset while A's flush reply is held (found by %s): the late row is not served",
    async (newer, found) => {
      const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
      const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }), 'reply');
      const a = scratch.strata({ schemas: [behind], l3: held.l3 });
      const bSchema = defineSchema({ name: 'items', table, writeMode: newer });
      // B's own queue: its flushDirty must not wait for the delivery A's held flush took.
      const b = scratch.strata({ schemas: [bSchema], writeBehind: { queue: createMemoryQueue() } });
      const k = `k-${newer}-${found}`;
      expect(await a.find(behind, k)).toBeNull(); // both have seen Redis' tick
      expect(await b.find(bSchema, k)).toBeNull();

      await a.set(behind, { id: k, n: 1 }); // v1, queued
      held.holdNext();
      const flushing = a.flushDirty();
      await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true); // v1 in Postgres, reply held
      expect(await scratch.n(k)).toBe(1);
      await b.set(bSchema, { id: k, n: 2 }); // v2
      if (newer === 'write-behind') await b.flushDirty();
      expect(await scratch.n(k)).toBe(2);
      await wipe();
      // Found by another call of A's before the settle is sent: its PUT then finds no reset of its own.
      if (found === 'another call first') expect(await a.find(behind, `${k}-other`)).toBeNull();
      held.open();
      await flushing;
      expect(a.stats().errorsBy['l2-reset'], 'A found the reset, once').toBe(1);

      // Old failure (each case): an instance started now reads Postgres: expected 1 to be 2.
      const fresh = scratch.strata({ schemas: [behind] });
      expect((await fresh.find(behind, k))?.n, 'an instance started now reads Postgres').toBe(2);
      const other = scratch.strata({ schemas: [behind] });
      expect((await other.find(behind, k))?.n, 'another, from the L2 copy the first filled').toBe(2);
      expect((await a.find(behind, k))?.n, 'A').toBe(2);
      expect((await b.find(bSchema, k))?.n, 'B').toBe(2);
    },
  );
});
