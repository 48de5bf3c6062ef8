import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { createMemoryQueue, defineSchema } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';

// Probe for "several queued writes beneath one set, another instance's delete between them"
// (flusher.ts `applyBeneath`): A's whole row (v1), B's delete (v2, queued; not put back after the
// reset: Postgres has no row), Redis reset, A's partial set {b} (v3), with or without a held
// transaction's mark above it, then A's partial set {a} (v5), which the flush applies over the row
// beneath it (the index's entry: one queued write's row, its sent fold, recorded at that write's
// version as its own flush records it). B's delete, refused as older, resets c. Passed before and
// after this branch (applyBeneath unchanged; the marked case goes through it). With a bus channel per instance (a misconfiguration)
// Postgres is right but A's L1 (and in the unmarked case B's find) kept c: 1: not pursued.

const cols = { id: text('id').primaryKey(), a: integer('a'), b: text('b'), c: integer('c') };

describe('queued writes beneath a set, a delete of another instance between them', () => {
  const scratch = scratchApp('beneath_chain');
  const { pgName, db, admin, redisUrl, name, wipe } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  const through = defineSchema({ name: 'items', table });
  scratch.migrate(table);
  const row = async (id: string) =>
    (await admin.query(`select id, a, b, c from "${pgName}".items where id = $1`, [id])).rows[0] ?? null;

  it.each([{ mark: true }, { mark: false }])('mark: $mark', async ({ mark }) => {
    const id = `k-${mark}`;
    const bus = () => ({
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const a = scratch.strata({ writeBehind: { queue: createMemoryQueue() }, schemas: [behind], ...bus() });
    const b = scratch.strata({ writeBehind: { queue: createMemoryQueue() }, schemas: [behind], ...bus() });
    const c = scratch.strata({ schemas: [through], l3: held.l3, ...bus() });
    await a.set(behind, { id, a: 1, b: 'b1', c: 1 });
    await b.delete(behind, id);
    await wipe();
    await a.set(behind, { id, b: 'b3' });
    let tx: Promise<unknown> | undefined;
    if (mark) {
      await c.find(through, id);
      held.holdNext();
      tx = c.tx().set(through, { id, a: 4 }).commit();
      await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    }
    await a.set(behind, { id, a: 5 });
    await a.flushDirty();
    held.open();
    await tx;
    await b.flushDirty();
    const expected = { id, a: 5, b: 'b3', c: null }; // v1, the delete, {b}, (the transaction's {a}), {a}
    expect(await row(id)).toEqual(expected);
    for (const s of [a, b]) await expect.poll(() => s.find(behind, id), { timeout: 5_000 }).toEqual(expected);
  });
});
