import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';

// A WRITE-THROUGH set that leaves columns out merges over its key's queued write-behind writes, read
// in RESERVE_THROUGH (engine/through-partial.ts). A queued write that a newer write of the app
// superseded is marked there by that write's reservation, and is not merged (probe-hard-move-
// through.test.ts). One newer write marks nothing in its index: that of another shape of the
// table (a rolling deploy) while this shape was not live (its instance held past 30 s). Its shape's
// next generation read marks its queued writes then (a come-back mark, see GENERATION), and a
// transaction (come-back.ts) and a write-behind set (`QueuedWrite.under`) read those marks. Does a
// write-through set of the old version? The old version (`narrow`: id, n, note) queued P1 (note
// 'queued'), then was held past 30 s; the new version (`wide`, one more column) commits a
// transaction of the key (note 'tx'), newer than P1; an instance of the old version running the
// schema write-through sets n alone. Postgres must keep the transaction's note: P1 is older (its
// flush is refused). Where the transaction wrote another key, P1's note is the key's newest.

describe('a write-through partial set over a queued write another shape superseded unmarked', () => {
  const scratch = scratchApp('through_come_back');
  const { name, pgName, admin, raw, redisUrl } = scratch;
  const columns = { id: text('id').primaryKey(), n: integer('n').notNull(), note: text('note') };
  const wideTable = pgSchema(pgName).table('items', { ...columns, extra: text('extra') });
  const narrowTable = pgSchema(pgName).table('items', columns);
  const wide = defineSchema({ name: 'items', table: wideTable, writeMode: 'write-behind' });
  const narrow = defineSchema({ name: 'items', table: narrowTable, writeMode: 'write-behind' });
  const narrowThrough = defineSchema({ name: 'items', table: narrowTable, writeMode: 'write-through' });
  scratch.migrate(wideTable);
  const open = (app: string, schema: typeof wide | typeof narrow | typeof narrowThrough) =>
    scratch.strata({
      keyPrefix: `${name}${app}`,
      schemas: [schema],
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
  const row = async (id: string) =>
    (await admin.query(`select id, n, note, extra from "${pgName}".items where id = $1`, [id])).rows[0] ??
    null;
  /** The old shape's confirmation a minute old on Redis' clock: as if its instance had been held that long. */
  const lapse = async (app: string) => {
    const [seconds] = await raw.time();
    const registry = `${name}${app}:${pgName}.items:shapes`;
    await raw.hset(registry, `${narrow.fingerprint}-json`, String(Number(seconds) * 1000 - 60_000));
  };

  it.each([
    ['the key, newer than P1', true, 'set'],
    ['another key', false, 'set'],
    ['the key, newer than P1 (a queued delete)', true, 'delete'],
    ['another key (a queued delete)', false, 'delete'],
  ] as const)(
    'the new version’s transaction writes %s: the write-through set of n alone keeps the newest note',
    async (_, same, p1) => {
      const app = `${same ? 's' : 'o'}${p1[0]}`;
      const id = app;
      const old = open(app, narrow);
      await old.set(narrow, { id, n: 0, note: 'stored' });
      await old.flushDirty();
      if (p1 === 'set') await old.set(narrow, { id, n: 1, note: 'queued' });
      else await old.delete(narrow, id); // P1, alone: queued
      await lapse(app);
      const neu = open(app, wide);
      await neu.find(wide, id); // its generation read: the old shape is not live
      await neu
        .tx()
        .set(wide, { id: same ? id : 'other', n: 2, note: 'tx', extra: 'tx' })
        .commit();
      const through = open(app, narrowThrough); // the old version again, write-through
      await through.set(narrowThrough, { id, n: 3 } as never);
      const expected = same
        ? { id, n: 3, note: 'tx', extra: 'tx' }
        : { id, n: 3, note: p1 === 'set' ? 'queued' : null, extra: null };
      const committed = await row(id);
      await old.flushDirty();
      await neu.flushDirty();
      expect({ committed, flushed: await row(id) }).toEqual({ committed: expected, flushed: expected });
      expect(await open(app, narrow).find(narrow, id)).toEqual({ id, n: 3, note: expected.note });
      expect(await open(app, wide).find(wide, id)).toEqual(expected);
    },
  );
});
