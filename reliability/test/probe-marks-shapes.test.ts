import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema, type L3Tier } from '@strata/core';
import { type Clock, manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { msgpackCodec } from '@strata/core/msgpack';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';

// Reservation marks across the shapes of a rolling deploy (helper "marks"). A transaction or a
// write-through write that takes its version marks the key's queued write-behind writes superseded
// (RESERVE, RESERVE_THROUGH) so that a later write-behind set leaving columns out does not carry
// their older columns over the ones it set. Queued writes sit in their own shape's pending index:
// here the old version (`narrow`: id, n, note) queued one before the new version (`wide`: one more
// column) wrote the key, and the mark must reach the old version's index too.

describe('a reservation of one shape and a queued write of another (rolling deploy)', () => {
  const scratch = scratchApp('marks_shapes');
  const { name, pgName, db, admin, raw, redisUrl } = scratch;
  const columns = { id: text('id').primaryKey(), n: integer('n').notNull(), note: text('note') };
  const wideTable = pgSchema(pgName).table('items', { ...columns, extra: text('extra') });
  const narrowTable = pgSchema(pgName).table('items', columns);
  const wide = {
    behind: defineSchema({ name: 'items', table: wideTable, writeMode: 'write-behind' }),
    through: defineSchema({ name: 'items', table: wideTable }),
  };
  const narrow = defineSchema({ name: 'items', table: narrowTable, writeMode: 'write-behind' });
  scratch.migrate(wideTable);
  // Each case its own app (keyPrefix), so its own live-shape registry.
  const open = (
    app: string,
    schema: typeof wide.behind | typeof narrow,
    more: { l3?: L3Tier; msgpack?: boolean; clock?: Clock } = {},
  ) =>
    scratch.strata({
      keyPrefix: `${name}${app}`,
      schemas: [schema],
      ...(more.l3 && { l3: more.l3 }),
      ...(more.clock && { clock: more.clock }),
      ...(more.msgpack && { codec: msgpackCodec }),
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
  const row = async (id: string) =>
    (await admin.query(`select id, n, note, extra from "${pgName}".items where id = $1`, [id])).rows[0] ??
    null;
  /** Its shape's confirmation `ago` ms old on Redis' clock: as if its instance had been held that long. */
  const lapse = async (app: string, schema: typeof wide.behind, ago = 60_000) => {
    const [seconds] = await raw.time();
    const registry = `${name}${app}:${pgName}.items:shapes`;
    await raw.hset(registry, `${schema.fingerprint}-json`, String(Number(seconds) * 1000 - ago));
  };

  // The old version queues P1 (note 'queued') alone; the new version registers and writes the key
  // (whole row) through Postgres, its statement held after its reservation (a slow Postgres, a lock
  // wait) until its shape's confirmation is over 30 s old, so the old version writes alone again and
  // queues P3 (n only), merging over its queued P1. Versions: P1, the new version's write, P3. After
  // the flush Postgres must hold the new version's note (P3 left it out; P1 is superseded).
  it.each([
    ['a transaction', 'tx', false],
    ['a write-through set', 'through', false],
    ['a write-through set, the old version on MessagePack', 'through', true],
  ] as const)(
    "%s of the new version: its columns survive the old version's later partial set",
    async (_, how, msgpack) => {
      const id = 'k';
      const app = `${how}${msgpack ? 'm' : ''}`;
      const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
      const old = open(app, narrow, { msgpack });
      await old.set(narrow, { id, n: 0, note: 'stored' });
      await old.flushDirty();
      await old.set(narrow, { id, n: 1, note: 'queued' }); // P1, alone: queued
      const neuSchema = how === 'tx' ? wide.behind : wide.through;
      const neu = open(app, neuSchema, { l3: held.l3 });
      await neu.find(neuSchema, id); // registers the new shape (the old one is live)
      held.holdNext();
      const whole = { id, n: 2, note: 'new', extra: 'new' };
      const writing = how === 'tx' ? neu.tx().set(neuSchema, whole).commit() : neu.set(neuSchema, whole);
      await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
      await lapse(app, neuSchema);
      await old.set(narrow, { id, n: 3 } as never); // P3: alone again, queued
      held.open();
      await writing;
      await old.flushDirty();
      const expected = { id, n: 3, note: 'new', extra: 'new' };
      expect(await row(id)).toEqual(expected);
      // Every tier of both versions, and fresh instances of each, read what Postgres holds.
      const narrowRow = { id, n: 3, note: 'new' };
      expect(await old.find(narrow, id)).toEqual(narrowRow);
      expect(await open(app, narrow, { msgpack }).find(narrow, id)).toEqual(narrowRow);
      expect(await open(app, wide.behind).find(wide.behind, id)).toEqual(expected);
    },
  );

  // The old version queued P1 (note 'queued'), then its instance was held past 30 s: its shape was
  // not live at the new version's generation read, so the new version's transaction (whole row,
  // note 'tx') reserved its version and marked only its own shape's pending index. The old version
  // then resumes and makes P3 (n only): as a transaction while the new version is live, else queued
  // alone. It must not carry P1's older note over the transaction's. Before, it did: Postgres ended
  // at { n: 3, note: 'queued', extra: 'tx' }. Now its generation read (it comes back after the other
  // shape wrote) marks its queued writes: a transaction applies them first as their flush would,
  // a queued set carries them beneath its own; either way only where nothing landed after P1. And
  // where the transaction wrote another key, P1's note survives.
  it.each([
    ['still live', true, true],
    ['gone', false, true],
    ['still live, another key written', true, false],
    ['gone, another key written', false, false],
  ] as const)(
    'a shape not live at a transaction of the other, which is %s: the later partial set',
    async (_, live, same) => {
      const app = `unseen${live ? 'l' : 'g'}${same ? 's' : 'o'}`;
      const id = app; // each case its own row of the one table
      const clock = manualClock(Date.now());
      const old = open(app, narrow, { clock });
      await old.set(narrow, { id, n: 0, note: 'stored' });
      await old.flushDirty();
      await old.set(narrow, { id, n: 1, note: 'queued' }); // P1, alone: queued
      await lapse(app, narrow as never, 60_000); // the old version's instance held past 30 s
      const neu = open(app, wide.behind);
      await neu.find(wide.behind, id); // its generation read: the old shape is not live
      await neu
        .tx()
        .set(wide.behind, { id: same ? id : 'other', n: 2, note: 'tx', extra: 'tx' })
        .commit();
      if (!live) await lapse(app, wide.behind, 40_000); // the new version's instances stopped since
      clock.advance(31_000); // the old version's instance resumes
      await old.set(narrow, { id, n: 3 } as never); // P3
      const expected = same
        ? { id, n: 3, note: 'tx', extra: 'tx' }
        : { id, n: 3, note: 'queued', extra: null };
      // A transaction (the new version live) lands as it would after P1, before P1's flush: never
      // as P3's n over the stored note, a row no order of the writes leaves.
      if (live) expect(await row(id)).toEqual(expected);
      await old.flushDirty();
      await neu.flushDirty();
      expect(await row(id)).toEqual(expected);
      expect(await open(app, narrow).find(narrow, id)).toEqual({ id, n: 3, note: expected.note });
      expect(await open(app, wide.behind).find(wide.behind, id)).toEqual(expected);
    },
  );

  // As above (still live, another key written) with a queued delete for P1: P3, a transaction, must
  // start a new row. The transaction cannot tell whether the delete was superseded (the mark is a
  // come-back one), so it applies it first, as its flush would (come-back.ts). Without that, P3
  // updated the stored row, and P1's flush, refused as older, deleted nothing: the merge of a
  // refused write sets columns, never deletes (note 'stored' instead of null).
  it('a shape not live at a transaction of the other, which is still live: its later partial set after its queued delete starts a new row', async () => {
    const app = 'unseendel';
    const id = app;
    const clock = manualClock(Date.now());
    const old = open(app, narrow, { clock });
    await old.set(narrow, { id, n: 0, note: 'stored' });
    await old.flushDirty();
    await old.delete(narrow, id); // P1, alone: queued
    await lapse(app, narrow as never, 60_000); // the old version's instance held past 30 s
    const neu = open(app, wide.behind);
    await neu.find(wide.behind, id); // its generation read: the old shape is not live
    await neu.tx().set(wide.behind, { id: 'other', n: 2, note: 'tx', extra: 'tx' }).commit();
    clock.advance(31_000); // the old version's instance resumes
    await old.set(narrow, { id, n: 3 } as never); // P3: a transaction (the new version is live)
    await old.flushDirty();
    await neu.flushDirty();
    const expected = { id, n: 3, note: null, extra: null };
    expect(await row(id)).toEqual(expected);
    expect(await open(app, narrow).find(narrow, id)).toEqual({ id, n: 3, note: null });
    expect(await open(app, wide.behind).find(wide.behind, id)).toEqual(expected);
  });
});
