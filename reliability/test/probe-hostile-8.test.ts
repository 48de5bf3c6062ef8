import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema, type L2Tier, type L3Tier, type Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';

// Hostile round 8 (helper "breakit"): write modes of one app racing between a write-through
// write's version reservation and its commit. A probe that found a defect is `it.fails`, with the
// loss in its comment; the others pass and stay because no other test walks them.

/**
 * One app (one keyPrefix) writing `items` (id, n, note, extra) in both modes, each instance on the
 * app's bus: `open(schema, more)` an instance (`more`: an L2 or L3 of the probe's), `row(id)` the
 * row as Postgres holds it. Call it in a describe's body.
 */
function itemsInBothModes(label: string) {
  const scratch = scratchApp(label);
  const { name, pgName, db, admin, redisUrl } = scratch;
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    note: text('note'),
    extra: text('extra'),
  });
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  const through = defineSchema({ name: 'items', table });
  scratch.migrate(table);
  const bus = () => ({ bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) });
  const open = (schema: typeof behind, more: { l2?: L2Tier; l3?: L3Tier } = {}) =>
    scratch.strata({ schemas: [schema], ...more, coherence: bus() });
  const row = async (id: string) =>
    (await admin.query(`select id, n, note, extra from "${pgName}".items where id = $1`, [id])).rows[0] ??
    null;
  /** An L3 of the app whose next write can be held (see `heldL3`). */
  const heldTier = () => heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
  return { redisUrl, admin, pgName, behind, through, open, row, heldTier };
}

describe('a write-behind partial set while a write-through write of the key sits between its reservation and its commit', () => {
  // One app (one keyPrefix) writes the table in both modes (write-modes-one-app.test.ts): b queues
  // a write of the key (P1: note 'queued'); t writes the key through Postgres and has reserved its
  // version (after P1's) when its statement is held (a slow Postgres); meanwhile b sets another
  // column of the key (P3, after t's reservation: a higher version), merging over the pending row
  // (P1's: t's row is not in L2 yet). Order of the versions: P1, t, P3. After the flush Postgres
  // must hold t's columns where P3 left them out, P3's where it set them.
  const { behind, through, open, row, heldTier } = itemsInBothModes('hostile8_resv');
  const caughtUp = async (x: Strata, via: Strata) => {
    const heard = x.stats().invalidationsApplied;
    await via.invalidate(behind, `sentinel-${Math.random()}`);
    await expect.poll(() => x.stats().invalidationsApplied, { timeout: 3_000 }).toBeGreaterThan(heard);
  };

  it.each([
    ['whole set', 'whole'],
    ['partial set', 'partial'],
    ['transaction (write-behind schema)', 'tx'],
  ] as const)("t's %s: its columns survive the later partial set's flush", async (_, shape) => {
    const id = `r-${shape}`;
    const held = heldTier();
    const b = open(behind);
    const tSchema = shape === 'tx' ? behind : through;
    const t = open(tSchema, { l3: held.l3 });
    await b.set(behind, { id, n: 0, note: 'stored', extra: 'stored' });
    await b.flushDirty();
    await b.set(behind, { id, n: 1, note: 'queued' } as never); // P1
    held.holdNext();
    const tRow =
      shape === 'partial' ? { id, n: 2, note: 'through' } : { id, n: 2, note: 'through', extra: 'through' };
    const writing =
      shape === 'tx'
        ? t
            .tx()
            .set(behind, tRow as never)
            .commit()
        : t.set(through, tRow as never);
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.set(behind, { id, n: 3 } as never); // P3, after t's reservation
    held.open();
    await writing;
    await b.flushDirty();
    const expected = { id, n: 3, note: 'through', extra: shape === 'partial' ? 'stored' : 'through' };
    expect(await row(id)).toEqual(expected);
    await caughtUp(t, b);
    for (const [x, s] of [
      [b, behind],
      [t, tSchema],
      [open(behind), behind],
    ] as const)
      expect(await x.find(s, id)).toEqual(expected);
  });
});

describe("a write-through reservation between a write-behind partial set's base read and its script", () => {
  // As above, but t reserves its version after b's partial set read the key's queued writes and
  // before b's script wrote it: the script must see that the columns it carries are superseded.
  const { redisUrl, behind, through, open, row, heldTier } = itemsInBothModes('hostile8_mid');

  it("t's columns survive; b's partial set lands after it", async () => {
    const base = createIoredisL2(redisUrl);
    let holdPut = false;
    let putReached = false;
    let openPut!: () => void;
    const putOpened = new Promise<void>((resolve) => {
      openPut = resolve;
    });
    const l2 = new Proxy(base, {
      get(t, prop) {
        if (prop === 'run') {
          return async (...args: Parameters<L2Tier['run']>) => {
            if (holdPut && args[0].name.startsWith('ordered-put')) {
              holdPut = false;
              putReached = true;
              await putOpened;
            }
            return t.run(...args);
          };
        }
        const value = Reflect.get(t, prop, t) as unknown;
        return typeof value === 'function' ? value.bind(t) : value;
      },
    }) as L2Tier;
    const held = heldTier();
    const b = open(behind, { l2 });
    const t = open(through, { l3: held.l3 });
    await b.set(behind, { id: 'm', n: 0, note: 'stored', extra: 'stored' });
    await b.flushDirty();
    await b.set(behind, { id: 'm', n: 1, note: 'queued' } as never); // P1
    holdPut = true;
    const partial = b.set(behind, { id: 'm', n: 3 } as never); // P3: its base read, then held
    await expect.poll(() => putReached, { timeout: 5_000 }).toBe(true);
    held.holdNext();
    const writing = t.set(through, { id: 'm', n: 2, note: 'through', extra: 'through' }); // reserves, then held
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    openPut();
    await partial;
    held.open();
    await writing;
    await b.flushDirty();
    expect(await row('m')).toEqual({ id: 'm', n: 3, note: 'through', extra: 'through' });
  });
});

describe('two write-through partial sets in a row over a write-behind write queued before both', () => {
  const { behind, through, open, row } = itemsInBothModes('hostile8_twice');

  it('the second does not carry the queued columns over the first one', async () => {
    const b = open(behind);
    const t = open(through);
    await b.set(behind, { id: 'k', n: 0, note: 'stored', extra: 'stored' });
    await b.flushDirty();
    await b.set(behind, { id: 'k', n: 1, note: 'queued' } as never);
    await t.set(through, { id: 'k', n: 2, note: 'through' } as never);
    await t.set(through, { id: 'k', n: 3 } as never);
    await b.flushDirty();
    expect(await row('k')).toEqual({ id: 'k', n: 3, note: 'through', extra: 'stored' });
  });
});

describe('a write-through write that reserved its version and then failed, before another of the key', () => {
  // b queues P1 (note 'queued'); t's write of the key reserves its version (marking P1 superseded:
  // it would carry it) and then Postgres refuses it (a check constraint); t then sets another column
  // of the key. Nothing superseded P1 but that second set, which must carry P1's columns.
  const { admin, pgName, behind, through, open, row } = itemsInBothModes('hostile8_failed');

  it.each(['set', 'tx'] as const)(
    '%s: the queued columns survive the failed write and the next',
    async (how) => {
      await admin.query(
        `alter table "${pgName}".items drop constraint if exists n_small, add constraint n_small check (n < 100)`,
      );
      const id = `f-${how}`;
      const b = open(behind);
      const t = open(how === 'tx' ? behind : through);
      const ts = how === 'tx' ? behind : through;
      await b.set(behind, { id, n: 0, note: 'stored', extra: 'stored' });
      await b.flushDirty();
      await b.set(behind, { id, n: 1, note: 'queued' } as never); // P1
      const failed =
        how === 'tx'
          ? t.tx().set(ts, { id, n: 500, note: 'refused', extra: 'refused' }).commit()
          : t.set(ts, { id, n: 500, note: 'refused', extra: 'refused' });
      expect(
        await failed.then(
          () => 'ok',
          () => 'refused',
        ),
      ).toBe('refused');
      if (how === 'tx')
        await t
          .tx()
          .set(ts, { id, n: 5 } as never)
          .commit();
      else await t.set(ts, { id, n: 5 } as never);
      await b.flushDirty();
      await t.flushDirty();
      expect(await row(id)).toEqual({ id, n: 5, note: 'queued', extra: 'stored' });
    },
  );
});
