import { defineSchema } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';

// A write-through set (A, v1) commits and its reply is held; B sets the key after it (v2: Postgres
// and L2). Then Redis is reset (every key of the app gone, B's copy with them) and A's reply goes on:
// its PUT found the reset (its tick) and was made again in the new generation with A's row, where
// nothing at v2 refused it. Every instance then served n = 1 until the L2 TTL while Postgres held
// n = 2. One table shape (no rolling deploy): reset-since.ts marked only while another shape was
// known live. Now a write whose versions predate a reset its instance has found leaves a superseded
// marker at its versions, never its rows, and readers fill from Postgres. The generation-move case
// (B's `invalidateAll`, as a missed write not sent again moves it) held before and holds: a move
// leaves the key, so v2's copy, of the older generation, still refuses the older row.

const cols = { id: text('id').primaryKey(), n: integer('n').notNull() };

describe("a write-through set's late reply, the newer copy lost by a reset or a generation move", () => {
  const scratch = scratchApp('late_reply_reset');
  const { pgName, db, wipe } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  scratch.migrate(table);

  it.each([
    ['write-through', 'reset'],
    ['write-through', 'move'],
    ['write-through-l1-async', 'reset'],
  ] as const)('%s, a %s while the reply is held: the late row is not served', async (writeMode, loss) => {
    const schema = defineSchema({ name: 'items', table, writeMode });
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }), 'reply');
    const a = scratch.strata({ schemas: [schema], l3: held.l3 });
    const b = scratch.strata({ schemas: [schema] });
    const k = `k-${writeMode}-${loss}`;
    for (const s of [a, b]) expect(await s.find(schema, k)).toBeNull(); // both have seen Redis' tick

    held.holdNext();
    const set = a.set(schema, { id: k, n: 1 });
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true); // committed (v1), reply held
    await b.set(schema, { id: k, n: 2 }); // v2: Postgres and L2
    expect(await scratch.n(k)).toBe(2);
    if (loss === 'reset') await wipe();
    else await b.invalidateAll(schema);
    held.open();
    await set;
    if (loss === 'reset') expect(a.stats().errorsBy['l2-reset'], "A's reply found the reset").toBe(1);

    // Old failure: expected 1 to be 2.
    const fresh = scratch.strata({ schemas: [schema] });
    expect((await fresh.find(schema, k))?.n, 'an instance started now reads Postgres').toBe(2);
    const other = scratch.strata({ schemas: [schema] });
    expect((await other.find(schema, k))?.n, 'another, from the L2 copy the first filled').toBe(2);
  });
});
