import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema, type L3Tier, type Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';
import { wrapL3 } from '../support/wrap-l3.js';

// The life of a reservation mark (helper "marks"): a transaction that takes a version for a key
// marks the key's queued write-behind writes superseded (RESERVE), so a later partial set carries
// only its own columns. Here the mark meets what else happens to the key and its queued writes: a
// flush, a delete either way, and a transaction whose outcome is unknown. Every instance is of one
// app (one keyPrefix, one write stream) writing `items` write-behind.

describe('reservation marks meeting flushes, deletes and unknown outcomes', () => {
  const scratch = scratchApp('marks_life');
  const { pgName, db, admin, name, redisUrl } = scratch;
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n'),
    note: text('note'),
    extra: text('extra'),
  });
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table);
  const open = (l3?: L3Tier) =>
    scratch.strata({
      schemas: [behind],
      ...(l3 && { l3 }),
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
  const realL3 = () => createDrizzleL3(db, { migrationsSchema: pgName });
  const row = async (id: string) =>
    (await admin.query(`select id, n, note, extra from "${pgName}".items where id = $1`, [id])).rows[0] ??
    null;
  /** Postgres and every instance (and a fresh one) hold `expected`. */
  const everywhere = async (id: string, expected: unknown, ...instances: Strata[]) => {
    expect(await row(id)).toEqual(expected);
    for (const s of [...instances, open()]) expect(await s.find(behind, id)).toEqual(expected);
  };
  const stored = async (b: Strata, id: string) => {
    await b.set(behind, { id, n: 0, note: 'stored', extra: 'stored' });
    await b.flushDirty();
  };
  /**
   * A transaction of `id` on an instance whose L3 loses the connection at its commit: its outcome is
   * unknown, so the key's queued writes stay under its reservation mark.
   */
  const markedByUnknownTx = async (id: string) => {
    const t = open(
      wrapL3(realL3(), { write: () => Promise.reject(new Error('Connection terminated unexpectedly')) }),
    );
    const failed = await t
      .tx()
      .set(behind, { id, n: 2, note: 'tx', extra: 'tx' })
      .commit()
      .then(
        () => 'committed',
        () => 'unknown',
      );
    expect(failed).toBe('unknown');
  };

  it('the marked write is flushed before the transaction commits: the later partial set keeps its columns', async () => {
    const held = heldL3(realL3());
    const b = open();
    const t = open(held.l3);
    await stored(b, 'f');
    await b.set(behind, { id: 'f', n: 1, note: 'queued' }); // P1
    held.holdNext();
    const writing = t.tx().set(behind, { id: 'f', n: 2, note: 'tx', extra: 'tx' }).commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.flushDirty(); // P1 lands (older than the transaction): its entry and mark go
    await b.set(behind, { id: 'f', n: 3 }); // P3, after the reservation
    held.open();
    await writing;
    await b.flushDirty();
    await everywhere('f', { id: 'f', n: 3, note: 'tx', extra: 'tx' }, b, t);
  });

  it('a queued delete marked by a transaction that sets the key: the later partial set lands over its row', async () => {
    const held = heldL3(realL3());
    const b = open();
    const t = open(held.l3);
    await stored(b, 'd1');
    await b.delete(behind, 'd1'); // queued delete
    held.holdNext();
    const writing = t.tx().set(behind, { id: 'd1', n: 2 }).commit(); // a new row (after the delete)
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.set(behind, { id: 'd1', note: 'after' }); // P3
    held.open();
    await writing;
    await b.flushDirty();
    await everywhere('d1', { id: 'd1', n: 2, note: 'after', extra: null }, b, t);
  });

  it('a transaction deleting a key with a queued partial set: the later partial set starts a new row', async () => {
    const held = heldL3(realL3());
    const b = open();
    const t = open(held.l3);
    await stored(b, 'd2');
    await b.set(behind, { id: 'd2', note: 'queued' }); // P1
    held.holdNext();
    const writing = t.tx().delete(behind, 'd2').commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.set(behind, { id: 'd2', n: 3 }); // P3, after the delete's reservation
    held.open();
    await writing;
    await b.flushDirty();
    await everywhere('d2', { id: 'd2', n: 3, note: null, extra: null }, b, t);
  });

  // t1 and t2 each reserve a version of the key (marks 2, then 3) over the queued P1; t1's statement
  // is held, Postgres refuses t2's (a check constraint), which takes its mark back (UNMARK). P4 (n
  // only) is made before t1 commits: t1 still supersedes P1, so P4 must not carry P1's note.
  it('a refused reservation taking its mark back leaves an earlier in-flight one marked', async () => {
    await admin.query(
      `alter table "${pgName}".items drop constraint if exists n_small, add constraint n_small check (n < 100)`,
    );
    const held = heldL3(realL3());
    const b = open();
    const t1 = open(held.l3);
    const t2 = open();
    await stored(b, 'r');
    await b.set(behind, { id: 'r', n: 1, note: 'queued' }); // P1
    held.holdNext();
    const writing = t1.tx().set(behind, { id: 'r', n: 2, note: 't1', extra: 't1' }).commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    const refused = await t2
      .tx()
      .set(behind, { id: 'r', n: 500, note: 't2', extra: 't2' })
      .commit()
      .then(
        () => 'committed',
        () => 'refused',
      );
    expect(refused).toBe('refused');
    await b.set(behind, { id: 'r', n: 4 }); // P4
    held.open();
    await writing;
    await b.flushDirty();
    await everywhere('r', { id: 'r', n: 4, note: 't1', extra: 't1' }, b, t1);
  });

  // A transaction marks P1 (note 'queued') and its statement is lost on the way (a connection
  // reset: the outcome is unknown, so the mark stays; here it never reached Postgres). P3 (n only)
  // then finds the mark. Two instances flush: X took P1 and is slow, Y applies P3 first; X's P1 is
  // then refused as older. Before, P3 carried none of P1's columns and Postgres ended at
  // { n: 3, note: 'stored' }: P1's acknowledged note was lost, silently. Two mechanisms now keep it,
  // each enough alone: P3 carries P1's columns beneath its own, applied only while Postgres holds no
  // version at or above the mark (the transaction did not land); and P3's version row says it set
  // only `n`, so P1's refused flush applies `note` (drizzle/merge-refused.ts).
  it('a mark left by a transaction whose outcome is unknown: the queued columns survive a flush out of order', async () => {
    const slow = heldL3(realL3());
    const x = open(slow.l3);
    const y = open();
    await stored(y, 'u');
    await x.set(behind, { id: 'u', n: 1, note: 'queued' }); // P1
    await markedByUnknownTx('u');
    slow.holdNext();
    const xFlush = x.flushDirty(); // takes P1, held
    await expect.poll(() => slow.reached(), { timeout: 5_000 }).toBe(true);
    await y.set(behind, { id: 'u', n: 3 }); // P3
    const yFlush = y.flushDirty(); // takes P3, applies it, then waits for X's P1
    await expect.poll(async () => (await row('u'))?.n, { timeout: 5_000 }).toBe(3);
    // Before P1's flush is refused (X may be down for as long as its stream's claim takes): P3 landed
    // with P1's note, never as { n: 3, note: 'stored' }, a row no order of the writes leaves.
    const during = [await row('u'), await y.find(behind, 'u')];
    slow.open();
    await Promise.all([xFlush, yFlush]);
    expect(during).toEqual([
      { id: 'u', n: 3, note: 'queued', extra: 'stored' },
      { id: 'u', n: 3, note: 'queued', extra: 'stored' },
    ]);
    await everywhere('u', { id: 'u', n: 3, note: 'queued', extra: 'stored' }, x, y);
  });

  // As above with a queued delete under the mark: serially the key is deleted, then P3 makes a new
  // row of `n` alone. The merge of X's delete, refused as older behind P3 (drizzle/merge-refused.ts),
  // resets the columns no later write set, but only at that flush: until then P3 would update the
  // stored row (note and extra 'stored' back after P3 was acknowledged over none). P3 carries the
  // delete beneath its own (`QueuedWrite.under` without a row), so it lands as a new row.
  it('a queued delete under a mark whose transaction has an unknown outcome: the later partial set starts a new row', async () => {
    const slow = heldL3(realL3());
    const x = open(slow.l3);
    const y = open();
    await stored(y, 'ud');
    await x.delete(behind, 'ud'); // P1, a queued delete
    await markedByUnknownTx('ud');
    slow.holdNext();
    const xFlush = x.flushDirty(); // takes P1, held
    await expect.poll(() => slow.reached(), { timeout: 5_000 }).toBe(true);
    await y.set(behind, { id: 'ud', n: 3 }); // P3
    expect(await y.find(behind, 'ud')).toEqual({ id: 'ud', n: 3, note: null, extra: null });
    const yFlush = y.flushDirty(); // takes P3, applies it, then waits for X's P1
    await expect.poll(async () => (await row('ud'))?.n, { timeout: 5_000 }).toBe(3);
    slow.open();
    await Promise.all([xFlush, yFlush]);
    await everywhere('ud', { id: 'ud', n: 3, note: null, extra: null }, x, y);
  });

  // As above with a transaction for P3: it cannot lay the queued writes beneath its own columns in
  // its statement, so it applies them first, as their flush would (come-back.ts): Postgres takes
  // them only where it holds the key below their version (here: the marking transaction never
  // landed). Before, only under a come-back mark: P3 updated the stored row, and P1's delete,
  // refused as older at its flush, was lost (note and extra 'stored' instead of null).
  it('a queued delete under a mark whose transaction has an unknown outcome: a later transaction starts a new row', async () => {
    const x = open();
    const y = open();
    await stored(y, 'tq');
    await x.delete(behind, 'tq'); // P1, a queued delete
    await markedByUnknownTx('tq');
    await y.tx().set(behind, { id: 'tq', n: 3 }).commit(); // P3, a transaction
    const during = await row('tq');
    await x.flushDirty();
    expect(during).toEqual({ id: 'tq', n: 3, note: null, extra: null });
    await everywhere('tq', { id: 'tq', n: 3, note: null, extra: null }, x, y);
  });

  // A write-through partial set (the app runs the schema in both modes) over the same mark applies
  // the marked queued writes first, as a transaction does (through-partial.ts `applyMarked`), so no
  // tier holds a row no order gives while P1's flush waits. Before, it skipped the marked entry and
  // updated the stored row: P1's delete, refused as older at its flush, was lost (note and extra
  // 'stored'). A refused delete's merge (resetting the columns no later write set) now covers it too.
  it('a queued delete under a mark whose transaction has an unknown outcome: a later write-through partial set starts a new row', async () => {
    const through = defineSchema({ name: 'items', table });
    const x = open();
    const y = scratch.strata({
      schemas: [through],
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
    await stored(x, 'wq');
    await x.delete(behind, 'wq'); // P1, a queued delete
    await markedByUnknownTx('wq');
    await y.set(through, { id: 'wq', n: 3 }); // P3, write-through
    await x.flushDirty();
    expect(await row('wq')).toEqual({ id: 'wq', n: 3, note: null, extra: null });
  });
});
