import { Q, type Strata } from '@strata/core';
import { type ManualClock, manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { describe, expect, it } from 'vitest';
import { defaultsApp, onOwnRedis } from '../support/defaults-app.js';
import { heldL3 } from '../support/held-l3.js';
import { REFRESH_PASSED } from '../support/restart-suite.js';
import { losingL3 } from '../support/wrap-l3.js';

// A partial write-behind set over queued writes a mark covers (a transaction whose outcome is
// unknown) carries them beneath its own columns (`QueuedWrite.under`): the flush applies them first,
// at their own version. The pending index entry held only the set's own columns, so a search before
// the flush laid those alone over Postgres's row: a column only the write beneath set read
// Postgres's older value (`b: 'tx'`), where a get and Postgres after the flush read the queued one
// (`b: 'set'`). With L2 as it was, after a Redis reset (the index entry put back) and with L2 down
// (this instance's own unflushed writes), by `search`, `searchCached` and `count`, of the writer
// and of an instance that wrote nothing. Each instance's L2 and queue are on a Redis of this file's own.

describe('a search before the flush lays the queued writes beneath a partial set', () => {
  const app = defaultsApp('search_beneath');
  const { scratch, behind, row, txRow } = app;
  const { pgName, db } = scratch;
  const own = onOwnRedis(app);
  const { open, reconnected } = own;

  type Case = 'stored' | 'new' | 'held';
  /**
   * B's set of `b` queued, B's transaction of `a` lost (no SQLSTATE: outcome unknown, its mark
   * stays on B's queued write), then B's set of `c`, which carries the set of `b` beneath it. Over
   * a row Postgres holds ('stored'), over none ('new': the set of `b` a new row, its defaults
   * named), or over none while A's transaction is held at Postgres, committed before B's set of `c`
   * ('held': the defaults beneath only insert, never over A's row; B's get reads B's row until the
   * flush, a known limitation, so only Postgres after the flush is compared).
   */
  async function beneath(id: string, clock: ManualClock, kind: Case) {
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const a = open(clock, { l3: held.l3 });
    const losing = losingL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const b = open(clock, { l3: losing.l3 });
    if (kind === 'stored') {
      await b.set(behind, { ...txRow(id), b: 'old' });
      await b.flushDirty();
    }
    let tx: Promise<unknown> | undefined;
    if (kind === 'held') {
      held.holdNext();
      tx = a.tx().set(behind, txRow(id)).commit();
      await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    }
    await b.set(behind, { id, b: 'set' });
    losing.loseNext();
    await expect(b.tx().set(behind, { id, a: 9 }).commit()).rejects.toThrow();
    held.open();
    await tx;
    await b.set(behind, { id, c: 3 });
    return b;
  }

  const query = (id: string) => Q().where('id = $1', id).build();
  /** Rows whose `b` is B's queued one (the column only the write beneath sets). */
  const counted = (id: string) => Q().where('id = $1 and b = $2', id, 'set').build();

  /** What B's and another instance's reads answer before the flush. */
  async function reads(b: Strata, other: Strata, id: string) {
    return {
      search: await b.search(behind, query(id)),
      cached: await b.searchCached(behind, query(id)),
      count: await b.count(behind, counted(id)),
      other: await other.search(behind, query(id)),
    };
  }
  const agreeing = (row: unknown) => ({ search: [row], cached: [row], count: 1, other: [row] });

  /** Postgres after the flush: B's `b` and `c` over A's row (held), else as B's get read it. */
  async function flushed(b: Strata, id: string, kind: Case, got: unknown) {
    await b.flushDirty();
    const after = await row(id);
    const want = kind === 'held' ? { ...txRow(id), b: 'set', c: 3, g: 'upd' } : got;
    expect(after, 'the flush').toEqual(want);
    expect(after).toMatchObject({ b: 'set', c: 3 });
    return after;
  }

  const cases: Case[] = ['stored', 'new', 'held'];

  it.each(cases)('with L2 as it was (%s)', async (kind) => {
    const id = `kept-${kind}`;
    const clock = manualClock(Date.now());
    const b = await beneath(id, clock, kind);
    const got = await b.find(behind, id);
    const before = await reads(b, open(clock), id);
    const after = await flushed(b, id, kind, got);
    expect(before, 'before the flush').toEqual(agreeing(after));
  });

  it.each(cases)('after a Redis reset, the index entry put back (%s)', async (kind) => {
    const id = `reset-${kind}`;
    const clock = manualClock(Date.now());
    const b = await beneath(id, clock, kind);
    const got = await b.find(behind, id);
    await own.redis.kill();
    own.redis.wipe();
    await own.redis.start();
    await reconnected();
    clock.advance(REFRESH_PASSED);
    await b.find(behind, id);
    await b.settled();
    const before = await reads(b, open(clock), id);
    const after = await flushed(b, id, kind, got);
    expect(before, 'before the flush').toEqual(agreeing(after));
  });

  it.each(cases)("with L2 down, B's own unflushed writes (%s)", async (kind) => {
    const id = `down-${kind}`;
    const clock = manualClock(Date.now());
    const b = await beneath(id, clock, kind);
    const got = await b.find(behind, id);
    await own.redis.kill();
    const before = { search: await b.search(behind, query(id)), count: await b.count(behind, counted(id)) };
    await own.redis.start();
    await reconnected();
    const after = await flushed(b, id, kind, got);
    expect(before, 'before the flush').toEqual({ search: [after], count: 1 });
  });
});
