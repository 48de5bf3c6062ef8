import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';

// Found by model-merge-refused.test.ts (seed 1, run 38, one shape; minimised by hand): instance A's
// transaction sets a key Postgres has no row of, and is held at Postgres (its version reserved);
// meanwhile instance B sets some of the key's columns (queued, a later version). B read no row (the
// transaction had not committed), so it queued a new row: its columns, and null for every column it
// left out. Flushed after the transaction, at its later version, those nulls blanked the columns
// the acknowledged transaction set (the model: r38k1 = {"a":null,"b":"b356","c":349}; allowed
// {"a":347,"b":"b356","c":349} | {"a":347,"b":"b356","c":347}).
// Either order is one the callers could see; neither leaves `a` null.

const cols = { id: text('id').primaryKey(), a: integer('a'), b: text('b'), c: integer('c') };

describe('a write-behind partial set of a key with no row, while a transaction setting it is held', () => {
  const scratch = scratchApp('seed1_pt');
  const { pgName, db, admin, redisUrl, name } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table);
  const row = async (id: string) =>
    (await admin.query(`select id, a, b, c from "${pgName}".items where id = $1`, [id])).rows[0] ?? null;

  it("keeps the transaction's columns the set left out, in Postgres and every instance", async () => {
    const bus = () => ({ bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) });
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const a = scratch.strata({ schemas: [behind], l3: held.l3, coherence: bus() });
    const b = scratch.strata({ schemas: [behind], coherence: bus() });
    held.holdNext();
    const tx = a.tx().set(behind, { id: 'k', a: 1, b: 'tx', c: 1 }).commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.set(behind, { id: 'k', b: 'set', c: 3 });
    held.open();
    await tx;
    await b.flushDirty();
    await a.flushDirty();
    const allowed = [
      { id: 'k', a: 1, b: 'set', c: 3 }, // the transaction, then the set
      { id: 'k', a: 1, b: 'tx', c: 1 }, // the set, then the transaction
    ];
    const stored = await row('k');
    expect(allowed).toContainEqual(stored);
    await expect.poll(() => a.find(behind, 'k'), { timeout: 5_000 }).toEqual(stored);
    await expect.poll(() => b.find(behind, 'k'), { timeout: 5_000 }).toEqual(stored);
  });
});
