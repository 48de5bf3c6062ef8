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
// Before the fix every case failed, A, B and a fresh instance all serving the flushed row
// (`expected [ [ { id: 'r1-k0', n: 2 } ], …(2) ] to deeply equal [ [ ObjectContaining {"n": 3} ], …(2) ]`):
// MARK skipped the pending copy, and the commit's PUT replaced anything of its version. Now MARK
// marks a pending copy the change was logged at, and a writer's commit (flush settle, transaction)
// replaces only its own pending copy at its version (l2/scripts.ts, MARK and PUT).

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
  /**
   * Instances A (its L3 writes held at their reply; it relays) and B on one bus, `count` keys at
   * n = 1 in every tier. `write` is A's acknowledged write whose Postgres reply is held; `outside`
   * the statement that commits meanwhile, leaving n = `expected`; `between` runs after the relay
   * pass, before the reply. Then Postgres and every tier (A, B, a fresh instance) must hold it.
   */
  const race = async (
    count: number,
    write: (a: Strata, keys: string[]) => Promise<unknown>,
    outside: string,
    expected: number,
    between: (b: Strata, keys: string[]) => Promise<void> = async () => {},
  ) => {
    run += 1;
    const channel = `${app.name}:bus${run}`;
    const l3 = () => createDrizzleL3(app.db, { capture: changeCapture, migrationsSchema: app.pgName });
    const held = heldL3(l3(), 'reply');
    const one = (relay: boolean) =>
      app.strata({
        l3: relay ? held.l3 : l3(),
        coherence: { bus: createRedisPubSubBus({ url: app.redisUrl, channel }) },
        ...(relay && { capture: { relay: changeRelay({ interval: '1h' }) } }),
        schemas: [schema],
      });
    const [a, b] = [one(true), one(false)];
    for (const x of [a, b]) await x.find(schema, 'warm-up');
    const keys = Array.from({ length: count }, (_, i) => `r${run}-k${i}`);
    await a.setMany(
      schema,
      keys.map((k) => ({ id: k, n: 1 })),
    );
    await a.flushDirty();
    await a.relayChanges();
    held.holdNext();
    const writing = write(a, keys);
    await expect.poll(held.reached, { timeout: 5_000 }).toBe(true); // committed, its reply held
    await app.admin.query(outside.replaceAll('$table', `"${app.pgName}".items`), [keys]);
    expect(await a.relayChanges()).toMatchObject({ status: 'applied' });
    await between(b, keys);
    held.open();
    await writing;
    for (const k of keys) expect(await app.n(k), `Postgres ${k}`).toBe(expected);
    const fresh = app.strata({ schemas: [schema] });
    await expect
      .poll(
        async () => Promise.all([a, b, fresh].map((x) => Promise.all(keys.map((k) => x.find(schema, k))))),
        {
          timeout: BOUND_MS + 500,
        },
      )
      .toEqual([a, b, fresh].map(() => keys.map(() => expect.objectContaining({ n: expected }))));
  };
  const update = 'update $table set n = 3 where id = any($1)';
  /** A queued set of n = 2, acknowledged, then flushed (its reply held). */
  const queuedSet = async (a: Strata, keys: string[]) => {
    await a.setMany(
      schema,
      keys.map((k) => ({ id: k, n: 2 })),
    );
    await a.flushDirty();
  };

  it('1 key: every tier ends at the outside value Postgres holds', () => race(1, queuedSet, update, 3));
  it('8 keys: every tier ends at the outside value Postgres holds', () => race(8, queuedSet, update, 3));
  // B reads every key before the reply (L2 holds the marker: B fills L1 and L2 from Postgres at
  // the version the flush gave the key), which the settle must not replace.
  it('8 keys, read before the reply: every tier ends at the outside value Postgres holds', () =>
    race(8, queuedSet, update, 3, async (b, keys) => {
      for (const k of keys) expect(await b.find(schema, k)).toMatchObject({ n: 3 });
    }));
  // A queued delete, and an outside INSERT bringing the rows back (logged at the version the delete
  // left): the delete's late settle must not put its tombstone over them.
  it('8 keys, a queued delete, an outside INSERT after its flush: every tier serves the inserted row', () =>
    race(
      8,
      async (a, keys) => {
        for (const k of keys) await a.delete(schema, k);
        await a.flushDirty();
      },
      'insert into $table (id, n) select unnest($1::text[]), 4',
      4,
    ));
  // A transaction writing the write-behind schema commits to Postgres itself (its versions from the
  // same Redis counter), then puts its rows in the caches: the same race with its reply.
  it('8 keys, a transaction: an outside UPDATE relayed before its reply stays in every tier', () =>
    race(
      8,
      (a, keys) => {
        let tx = a.tx();
        for (const k of keys) tx = tx.set(schema, { id: k, n: 2 });
        return tx.commit();
      },
      update,
      3,
    ));
});
