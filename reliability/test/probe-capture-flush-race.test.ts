import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { changeRelay, defineSchema, Strata } from '@strata/core';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';

// Change capture's relay racing a write-behind flush of the same key: the flush committed in
// Postgres, an outside UPDATE of the key commits after it (logged at the version the flush gave the
// key: write-behind tables are never bumped), the relay applies it (markers at that version, L1
// copies dropped on both instances), and only then does the flush's reply arrive and the flush
// settle the caches with the row as its statement returned it. Postgres holds the outside value,
// written after the acknowledged write: every tier must serve it after the relay pass and the bound.

/** How long another instance may still serve what a write replaced (bus delivery). */
const BOUND_MS = 1_000;

describe('a write-behind flush whose reply lands after an outside UPDATE and its relay pass', () => {
  const app = scratchApp('probe_capflush');
  const table = pgSchema(app.pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
  });
  app.migrate(table);
  const schema = defineSchema({ table, writeMode: 'write-behind', l1: { ttl: '10m' } });
  beforeAll(async () => {
    await new Strata({
      l3: createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
      keyPrefix: app.name,
      // Install only (no queue needed): the trigger follows the table's writer claim, not this mode.
      schemas: [defineSchema({ table, writeMode: 'write-through' })],
    }).migrate({ capture: true });
  });
  let run = 0;
  const pair = () => {
    run += 1;
    const channel = `${app.name}:bus${run}`;
    const held = heldL3(
      createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }),
      'reply',
    );
    const one = (l3: ReturnType<typeof createDrizzleL3>, relay: boolean) =>
      app.strata({
        l3,
        coherence: { bus: createRedisPubSubBus({ url: app.redisUrl, channel }) },
        ...(relay && { capture: { relay: changeRelay({ interval: '1h' }) } }),
        schemas: [schema],
      });
    const a = one(held.l3, true);
    const b = one(createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName }), false);
    return { a, b, held, id: (k: string) => `r${run}-${k}` };
  };

  // `read`: B reads every key between the relay pass and the reply (L2 holds the marker: B fills
  // L1 and L2 from Postgres at the version the flush gave the key), which the settle must not replace.
  for (const [count, between] of [
    [1, 'nothing'],
    [8, 'nothing'],
    [8, 'read'],
  ] as const)
    it(`${count} key(s), ${between} before the reply: every tier ends at the outside value Postgres holds`, async () => {
      const { a, b, held, id } = pair();
      for (const x of [a, b]) await x.find(schema, 'warm-up');
      const keys = Array.from({ length: count }, (_, i) => id(`k${i}`));
      await a.setMany(
        schema,
        keys.map((k) => ({ id: k, n: 1 })),
      );
      await a.flushDirty();
      await a.relayChanges();
      await a.setMany(
        schema,
        keys.map((k) => ({ id: k, n: 2 })),
      ); // acknowledged, queued
      for (const k of keys) expect(await b.find(schema, k)).toMatchObject({ n: 2 });
      held.holdNext();
      const flushing = a.flushDirty();
      await expect.poll(held.reached, { timeout: 5_000 }).toBe(true); // committed, reply held
      expect(await app.n(keys[0]!)).toBe(2);
      await app.admin.query(`update "${app.pgName}".items set n = 3 where id = any($1)`, [keys]);
      expect(await a.relayChanges()).toMatchObject({ status: 'applied' });
      if (between === 'read') for (const k of keys) expect(await b.find(schema, k)).toMatchObject({ n: 3 });
      held.open();
      await flushing;
      for (const k of keys) expect(await app.n(k), `Postgres ${k}`).toBe(3);
      const fresh = app.strata({ schemas: [schema] });
      await expect
        .poll(
          async () => Promise.all([a, b, fresh].map((x) => Promise.all(keys.map((k) => x.find(schema, k))))),
          {
            timeout: BOUND_MS + 500,
          },
        )
        .toEqual([a, b, fresh].map(() => keys.map(() => expect.objectContaining({ n: 3 }))));
    });

  // The same race with a queued delete: the flush deletes the rows, an outside INSERT brings them
  // back (logged at the version the delete left), the relay applies it; the delete's late settle
  // must not put its tombstone over it.
  it('8 keys, a queued delete, an outside INSERT after its flush: every tier serves the inserted row', async () => {
    const { a, b, held, id } = pair();
    for (const x of [a, b]) await x.find(schema, 'warm-up');
    const keys = Array.from({ length: 8 }, (_, i) => id(`d${i}`));
    await a.setMany(
      schema,
      keys.map((k) => ({ id: k, n: 1 })),
    );
    await a.flushDirty();
    await a.relayChanges();
    for (const k of keys) await a.delete(schema, k); // acknowledged, queued
    for (const k of keys) expect(await b.find(schema, k)).toBeNull();
    held.holdNext();
    const flushing = a.flushDirty();
    await expect.poll(held.reached, { timeout: 5_000 }).toBe(true);
    expect(await app.n(keys[0]!)).toBeUndefined();
    await app.admin.query(`insert into "${app.pgName}".items (id, n) select unnest($1::text[]), 4`, [keys]);
    expect(await a.relayChanges()).toMatchObject({ status: 'applied' });
    held.open();
    await flushing;
    for (const k of keys) expect(await app.n(k), `Postgres ${k}`).toBe(4);
    const fresh = app.strata({ schemas: [schema] });
    await expect
      .poll(
        async () => Promise.all([a, b, fresh].map((x) => Promise.all(keys.map((k) => x.find(schema, k))))),
        {
          timeout: BOUND_MS + 500,
        },
      )
      .toEqual([a, b, fresh].map(() => keys.map(() => expect.objectContaining({ n: 4 }))));
  });

  // A transaction writing the write-behind schema commits to Postgres itself (its versions from the
  // same Redis counter), then puts its rows in the caches: the same race with its reply.
  it('8 keys, a transaction: an outside UPDATE relayed before its reply stays in every tier', async () => {
    const { a, b, held, id } = pair();
    for (const x of [a, b]) await x.find(schema, 'warm-up');
    const keys = Array.from({ length: 8 }, (_, i) => id(`t${i}`));
    await a.setMany(
      schema,
      keys.map((k) => ({ id: k, n: 1 })),
    );
    await a.flushDirty();
    await a.relayChanges();
    held.holdNext();
    let tx = a.tx();
    for (const k of keys) tx = tx.set(schema, { id: k, n: 2 });
    const committing = tx.commit();
    await expect.poll(held.reached, { timeout: 5_000 }).toBe(true);
    expect(await app.n(keys[0]!)).toBe(2);
    await app.admin.query(`update "${app.pgName}".items set n = 3 where id = any($1)`, [keys]);
    expect(await a.relayChanges()).toMatchObject({ status: 'applied' });
    held.open();
    await committing;
    for (const k of keys) expect(await app.n(k), `Postgres ${k}`).toBe(3);
    const fresh = app.strata({ schemas: [schema] });
    await expect
      .poll(
        async () => Promise.all([a, b, fresh].map((x) => Promise.all(keys.map((k) => x.find(schema, k))))),
        {
          timeout: BOUND_MS + 500,
        },
      )
      .toEqual([a, b, fresh].map(() => keys.map(() => expect.objectContaining({ n: 3 }))));
  });
});
