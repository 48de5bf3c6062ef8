import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { createMemoryQueue } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { shapesApp } from '../support/shapes-app.js';

// Found by model-merge-refused.test.ts once it held commit replies (seed 9102, run 16, a rolling
// deploy; minimised by hand): Redis loses its data; v2's write-behind set (through Postgres: both
// shapes are live) commits and its reply is held; v1's transaction sets `a` of the key meanwhile, a
// later version in Postgres. Once v2's reply arrived, v2's L2 key held v2's row at its older
// version, and kept it: the writer, a v2 write-through instance and a fresh v2 instance (its L2
// read) all served a:11 while Postgres held {a:13, b:'b11', c:11, extra:'x11'}. Without the reset
// it passed: v1's transaction marks v2's key superseded at its version, and v2's late PUT loses to
// the mark. The mechanism: the reset took the live-shape registry (`{base}:shapes`) with it; v2's
// writer found the reset through a script's tick and moved the generation on (RESET_GENERATION)
// without a generation read, so v2's shape was not confirmed live again before it took its version;
// v1's commit then found only its own shape live and marked nothing under v2's.
// Now: the move after a reset is followed by a generation read (generation.ts), which confirms the
// shape before any write of it goes on. The second case has the reset land while the reply is held
// (v2 took its version before it, v1 after it, with v2 not live): the commit of a write whose bucket
// saw a reset since it took its versions leaves superseded markers, not its rows (reset-since.ts).
// The third case has v1's transaction before the reset, which takes its mark of v2's key with it:
// v2's writer, finding the reset, read the live shapes again and knew v1 no longer (the registry
// went too), so it put its row, as any writer that knew no other shape live (a:11 for a:13 before).
// Now a commit whose versions predate a reset leaves markers whatever shapes it knows.

describe("a rolling deploy's late commit reply after a Redis reset, another version's write in between", () => {
  const { scratch, v1Behind, v2Behind, v2Through, row } = shapesApp('model_late_shapes');
  const { pgName, db, redisUrl, name, wipe } = scratch;

  const run = async (wipeWhile: 'before' | 'held' | 'after') => {
    const id = `k-${wipeWhile}`;
    const config = () => ({
      writeBehind: { queue: createMemoryQueue() },
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }), 'reply');
    const a = scratch.strata({ ...config(), schemas: [v1Behind] });
    const b = scratch.strata({ ...config(), schemas: [v2Behind], l3: held.l3 });
    const c = scratch.strata({ ...config(), schemas: [v2Through] });
    for (const [s, schema] of [
      [a, v1Behind],
      [b, v2Behind],
      [c, v2Through],
    ] as const)
      await s.find(schema, 'warm-up'); // every shape live before the first write
    if (wipeWhile === 'before') await wipe(); // Redis restarted empty
    held.holdNext();
    const set = b.set(v2Behind, { id, a: 11, b: 'b11', c: 11, extra: 'x11' });
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true); // committed, reply held
    if (wipeWhile === 'held') await wipe(); // Redis restarted empty, v2's version taken before
    await a.tx().set(v1Behind, { id, a: 13 }).commit();
    if (wipeWhile === 'after') await wipe(); // and v1's mark of v2's key, and the live-shape registry
    held.open();
    await set;
    await a.flushDirty();
    await b.flushDirty();
    const stored = await row(id);
    expect(stored).toEqual({ id, a: 13, b: 'b11', c: 11, extra: 'x11' }); // the set, then the transaction
    const fresh = scratch.strata({ ...config(), schemas: [v2Behind] });
    // Old failure: expected { id: 'k', a: 11, … } to deeply equal { id: 'k', a: 13, … }.
    for (const [s, schema] of [
      [b, v2Behind],
      [c, v2Through],
      [fresh, v2Behind],
    ] as const)
      await expect.poll(() => s.find(schema, id), { timeout: 6_000 }).toEqual(stored);
  };

  it("every v2 instance serves Postgres' row, not the late writer's (reset before the write)", () =>
    run('before'));

  // Old failure (with the generation read after the reset alone): the same, a:11 for a:13.
  it("every v2 instance serves Postgres' row, not the late writer's (reset while its reply is held)", () =>
    run('held'));

  // Old failure: the same, a:11 for a:13 (v2's writer knew no other shape live after the reset).
  it("every v2 instance serves Postgres' row, not the late writer's (reset after v1's write, reply held)", () =>
    run('after'));
});
