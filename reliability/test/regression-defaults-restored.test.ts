import { Q, type Strata } from '@strata/core';
import { type ManualClock, manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { describe, expect, it } from 'vitest';
import { defaultsApp, onOwnRedis } from '../support/defaults-app.js';
import { heldL3 } from '../support/held-l3.js';
import { REFRESH_PASSED } from '../support/restart-suite.js';
import { losingL3 } from '../support/wrap-l3.js';

// Follows regression-defaults-carried.test.ts: a queued write-behind new row's client defaults
// ($defaultFn, a literal default, defaultNow()) are an insert's alone, so that a flush finding the
// row made meanwhile (here: instance A's transaction, held at Postgres while B's set was queued,
// committed after it) leaves the made row's columns. What B knows of its unflushed writes outside
// Redis (engine/own-pending.ts) lost those names, so that:
// - after a Redis reset, the write B queues again (`restoreOwnPending`) carried neither its defaults
//   nor the queued writes beneath it (`QueuedWrite.under`): its flush laid `d`, `e` and `f` over A's
//   row, or (beneath) lost B's earlier column;
// - the pending index entry the restore puts back named no defaults: a search laid them over A's row;
// - with L2 down, a search laid B's own unflushed writes (`ownWrites`) with their defaults as values.
// Each instance's L2 and queue are on a Redis of this file's own (AOF), which a test resets.

describe("a queued new row's defaults stay an insert's when L2 is reset or down", () => {
  const app = defaultsApp('defaults_restored');
  const { scratch, behind, row, txRow } = app;
  const { pgName, db } = scratch;
  const own = onOwnRedis(app);
  const { open, reconnected } = own;
  /** Redis restarted without its data (its queue's entries gone with L2's rows). */
  const reset = async () => {
    await own.redis.kill();
    own.redis.wipe();
    await own.redis.start();
    await reconnected();
  };

  /**
   * A's transaction held at Postgres, B's set of `b` queued (a new row: its defaults named), then
   * A's commit. With `lost`, between the two, B's transaction of `a` fails with its outcome unknown
   * (no SQLSTATE): its mark stays on B's queued row, which B's next set carries beneath its own.
   */
  async function queuedOverHeld(id: string, clock: ManualClock, lost = false) {
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const a = open(clock, { l3: held.l3 });
    const losing = losingL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const b = open(clock, { l3: losing.l3 });
    held.holdNext();
    const tx = a.tx().set(behind, txRow(id)).commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.set(behind, { id, b: 'set' });
    if (lost) {
      losing.loseNext();
      await expect(b.tx().set(behind, { id, a: 9 }).commit()).rejects.toThrow();
    }
    held.open();
    await tx;
    expect(await row(id), "Postgres holds A's row, B's write queued").toEqual(txRow(id));
    return b;
  }

  /** After a reset, B finds it (its generation read) and puts its unflushed writes back. */
  async function restored(b: Strata, clock: ManualClock, id: string) {
    await reset();
    clock.advance(REFRESH_PASSED);
    await b.find(behind, id);
    await b.settled();
  }

  it("the write queued again after a reset, and the index entry put back, keep A's columns", async () => {
    const id = 'restored';
    const clock = manualClock(Date.now());
    const b = await queuedOverHeld(id, clock);
    await restored(b, clock, id);
    const expected = { ...txRow(id), b: 'set', g: 'upd' };
    // The restored index entry, read by a search of B's and of an instance that wrote nothing.
    const query = Q().where('id = $1', id).build();
    const other = open(clock);
    const searched = { b: await b.search(behind, query), other: await other.search(behind, query) };
    expect.soft(searched, 'a search before the flush').toEqual({
      b: [expected],
      other: [expected],
    });
    // The restored queue entry: the only one (the reset took the original).
    await b.flushDirty();
    expect(await row(id), 'the flush').toEqual(expected);
  });

  it("the write queued again after a reset keeps the queued write beneath it, and A's columns", async () => {
    const id = 'restored-beneath';
    const clock = manualClock(Date.now());
    const b = await queuedOverHeld(id, clock, true);
    await b.set(behind, { id, c: 3 });
    await restored(b, clock, id);
    await b.flushDirty();
    expect(await row(id)).toEqual({ ...txRow(id), b: 'set', c: 3, g: 'upd' });
  });

  it("a search with L2 down lays B's own queued new row over A's row without its defaults", async () => {
    const id = 'l2-down';
    const clock = manualClock(Date.now());
    const b = await queuedOverHeld(id, clock);
    const expected = { ...txRow(id), b: 'set', g: 'upd' };
    await own.redis.kill();
    const query = Q().where('id = $1', id).build();
    expect(await b.search(behind, query)).toEqual([expected]);
    await own.redis.start();
    await reconnected();
    await b.flushDirty();
    expect(await row(id)).toEqual(expected);
  });
});
