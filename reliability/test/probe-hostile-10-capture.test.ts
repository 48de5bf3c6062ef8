import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { changeRelay, defineSchema, Strata } from '@strata/core';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';

// Hostile round 10 (capture): partial sets (a set naming some columns) racing writes made outside
// Strata (plain SQL UPDATEs, logged by change capture and applied by the relay).

/** How long another instance may still serve what a write replaced (bus delivery). */
const BOUND_MS = 1_000;
const range = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

describe('partial sets racing an outside UPDATE of another column, relayed by change capture', () => {
  // One app, two instances on one bus; A relays (lease), B does not. `items` (id, n, note): the
  // Strata sets name `n` only, the outside statements `note` (or `n`). A partial set sends only its
  // columns (docs/semantics.md, "the columns Strata writes sent, never one read from Postgres"), so
  // an outside change of a column it left out must survive its flush, and after one relay pass
  // every tier answers what Postgres holds.
  const app = scratchApp('probe_hostile10_cap');
  const table = pgSchema(app.pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    note: text('note').notNull().default('none'),
  });
  app.migrate(table); // its Postgres schema made (and dropped after) by scratchApp
  const modes = ['write-through', 'write-behind'] as const;
  const schemaOf = (writeMode: (typeof modes)[number]) =>
    defineSchema({ table, writeMode, l1: { ttl: '10m' } });
  beforeAll(async () => {
    await new Strata({
      l3: createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
      keyPrefix: app.name,
      schemas: [schemaOf('write-through')],
    }).migrate({ capture: true });
  });
  let run = 0;
  const pair = async (writeMode: (typeof modes)[number], install = true) => {
    run += 1;
    const channel = `${app.name}:bus${run}`;
    const schema = schemaOf(writeMode);
    const one = (relay: boolean) =>
      app.strata({
        l3: createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
        coherence: { bus: createRedisPubSubBus({ url: app.redisUrl, channel }) },
        ...(relay && { capture: { relay: changeRelay({ interval: '1h' }) } }),
        schemas: [schema],
      });
    const [a, b] = [one(true), one(false)];
    if (install) {
      await a.capture.install(); // the table's triggers follow this mode (bump, or log at the held version)
      expect((await a.capture.check()).map((c) => c.missing)).toEqual([[]]);
    }
    for (const x of [a, b]) await x.find(schema, 'warm-up');
    return { a, b, schema, id: (k: string) => `c${run}-${k}` };
  };
  const row = async (id: string) =>
    (await app.admin.query(`select n, note from "${app.pgName}".items where id = $1`, [id])).rows[0] ?? null;
  const outside = (id: string, sql: string) =>
    app.admin.query(`update "${app.pgName}".items set ${sql} where id = $1`, [id]);

  for (const mode of modes)
    for (const when of ['before the set', 'after the set, before its flush'] as const)
      it(`${mode}: an outside UPDATE of note ${when} survives the partial set of n, in every tier`, async () => {
        const { a, b, schema, id } = await pair(mode);
        const k = id('k');
        await a.set(schema, { id: k, n: 1, note: 'strata' });
        await a.flushDirty();
        for (const x of [a, b]) expect(await x.get(schema, k)).toMatchObject({ n: 1, note: 'strata' });
        if (when === 'before the set') await outside(k, `note = 'outside'`);
        await b.set(schema, { id: k, n: 2 } as never); // n only
        if (when === 'after the set, before its flush') await outside(k, `note = 'outside'`);
        for (const x of [a, b]) await x.flushDirty();
        expect(await row(k), 'Postgres: the set’s n, the outside note').toEqual({ n: 2, note: 'outside' });
        await a.relayChanges();
        const fresh = app.strata({ schemas: [schema] });
        await expect
          .poll(
            async () => Promise.all([a, b, fresh].map(async (x) => (await x.get(schema, k)) as unknown)),
            {
              timeout: BOUND_MS + 500,
            },
          )
          .toEqual([0, 1, 2].map(() => expect.objectContaining({ n: 2, note: 'outside' })));
      });

  for (const mode of modes)
    it(`${mode}: an outside UPDATE of n racing the partial set of n: every tier ends at what Postgres holds`, async () => {
      const { a, b, schema, id } = await pair(mode);
      const keys = range(id('r'), 20);
      await a.setMany(
        schema,
        keys.map((k) => ({ id: k, n: 1, note: 'strata' })),
      );
      await a.flushDirty();
      for (const k of keys) await b.get(schema, k); // cached in B's L1 and in L2
      await Promise.all(
        keys.map((k, i) =>
          Promise.all([b.set(schema, { id: k, n: 100 + i } as never), outside(k, `n = ${200 + i}`)]),
        ),
      );
      for (const x of [a, b]) await x.flushDirty();
      await a.relayChanges();
      const stored = await Promise.all(keys.map(row));
      const fresh = app.strata({ schemas: [schema] });
      await expect
        .poll(
          async () =>
            Promise.all(
              [a, b, fresh].map((x) => Promise.all(keys.map(async (k) => await x.find(schema, k)))),
            ),
          {
            timeout: BOUND_MS + 500,
          },
        )
        .toEqual([0, 1, 2].map(() => stored.map((s) => expect.objectContaining(s))));
    });

  // Capture installed while the schema was write-through, then the app redeployed write-behind
  // without installing capture again. The trigger once decided at install whether an outside write
  // bumps `_strata_versions`: here it bumped the key to stored + 1, the very number the app's Redis
  // counter handed its next queued write, which the flush then refused as not newer (counted in
  // `flushed`, 0 errors): an acknowledged write lost (`expected { n: 1, note: 'outside' } to deeply
  // equal { n: 2, note: 'outside' }`). The trigger now reads the mode from the table's writer claim
  // (`_strata_writers`, trigger-ddl.ts `writeModeNow`); the install is still reported outdated.
  it('write-behind after capture was installed for write-through: the queued partial set survives an outside UPDATE', async () => {
    const { a, b, schema, id } = await pair('write-behind', false);
    await new Strata({
      l3: createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
      keyPrefix: app.name,
      schemas: [schemaOf('write-through')],
    }).capture.install(); // as the earlier deploy (write-through) left it
    expect((await a.capture.check())[0]?.missing.join()).toMatch(/outdated/);
    const k = id('k');
    await a.set(schema, { id: k, n: 1, note: 'strata' });
    await a.flushDirty();
    await outside(k, `note = 'outside'`);
    await b.set(schema, { id: k, n: 2 } as never); // acknowledged
    for (const x of [a, b]) await x.flushDirty();
    expect(await row(k), 'Postgres: the acknowledged n').toEqual({ n: 2, note: 'outside' });
  });

  // The other way round: capture installed while the schema was write-behind (an outside write
  // logged at the version the key holds, bumping none), then the app redeployed write-through
  // without installing capture again. The relay applied the change at the version every cache
  // already held, so no tier dropped its copy until the TTL (`expected [ 1, 1, 1 ] to deeply equal
  // [ 5, 5, 5 ]`). Now the write-through claim makes the trigger bump.
  it('write-through after capture was installed for write-behind: every tier follows an outside UPDATE after a relay pass', async () => {
    const { a, b, schema, id } = await pair('write-through', false);
    await app
      .strata({
        l3: createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
        schemas: [schemaOf('write-behind')],
      })
      .capture.install(); // as the earlier deploy (write-behind) left it
    const k = id('k');
    await a.set(schema, { id: k, n: 1, note: 'strata' });
    for (const x of [a, b]) expect(await x.get(schema, k)).toMatchObject({ n: 1 });
    await outside(k, `n = 5`);
    await a.relayChanges();
    const fresh = app.strata({ schemas: [schema] });
    await expect
      .poll(async () => Promise.all([a, b, fresh].map(async (x) => (await x.get(schema, k)).n)), {
        timeout: BOUND_MS + 500,
      })
      .toEqual([5, 5, 5]);
  });
});
