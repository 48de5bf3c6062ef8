import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema, isStrataError, type Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { lapseWriterClaims } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';
import { wrapL3 } from '../support/wrap-l3.js';

// Hostile round 8 (helper "breakit"): takeovers of a table whose old owner still has writes queued
// (see probe-hostile-6.test.ts for the first round of them).

describe('a write-behind claim lapsed with writes queued, taken over by a write-through app', () => {
  // The old app (write-behind) is cut off with a write queued; its claim lapses and a write-through
  // app (another keyPrefix) takes the table and writes the key; then the old app flushes.
  const scratch = scratchApp('hostile8_wt');
  const { name, pgName, admin } = scratch;
  const table = pgSchema(pgName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  const through = defineSchema({ name: 'items', table });
  scratch.migrate(table);
  const n = async (id: string) =>
    (await admin.query<{ n: number }>(`select n from "${pgName}".items where id = $1`, [id])).rows[0]?.n;

  it("the new app's later write wins over the old app's queued one", async () => {
    const old = scratch.strata({ keyPrefix: `${name}old`, schemas: [behind] });
    await old.set(behind, { id: 'k', n: 1 });
    await old.flushDirty();
    await old.set(behind, { id: 'k', n: 2 }); // queued
    await lapseWriterClaims(admin, pgName);
    const neu = scratch.strata({ keyPrefix: `${name}new`, schemas: [through] });
    await neu.set(through, { id: 'k', n: 3 });
    await old.flushDirty();
    expect(await n('k')).toBe(3);
    expect((await neu.get(through, 'k')).n).toBe(3);
  });
});

describe('a queued write superseded by a write of a later epoch: merged, or reported where it cannot be', () => {
  // A partial set the old owner queued used to lose its columns under the new owner's partial set
  // (probe-hostile-6.test.ts): Postgres kept one version per key, not per column. Now
  // `_strata_versions.cols` keeps the version that last set each column and the refused write
  // applies the columns no later write set (`L3Tier.mergeRefused`): nothing is lost, so nothing is
  // reported. With an L3 that cannot merge (the method is optional) the loss stays, and the old app
  // learns it — `onWriteError` gets WRITE_BEHIND_SUPERSEDED naming the columns that hold another
  // value, `errorsBy.superseded` counts it — while a write superseded within its own app and epoch
  // (carried by the write that superseded it) is not reported.
  const scratch = scratchApp('hostile8_loud');
  const { name, pgName, admin, redisUrl, db } = scratch;
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    note: text('note'),
    extra: text('extra'),
  });
  const errors: { id: string; error: unknown }[] = [];
  const schema = defineSchema({
    name: 'items',
    table,
    writeMode: 'write-behind',
    hooks: { onWriteError: (id, error) => errors.push({ id, error }) },
  });
  scratch.migrate(table);
  const app = (keyPrefix: string, merges = true) =>
    scratch.strata({
      keyPrefix,
      schemas: [schema],
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${keyPrefix}:bus` }) },
      ...(!merges && {
        l3: wrapL3(createDrizzleL3(db, { migrationsSchema: pgName }), { mergeRefused: undefined }),
      }),
    });
  const row = async (id: string) =>
    (await admin.query(`select n, note, extra from "${pgName}".items where id = $1`, [id])).rows[0];
  const superseded = (s: Strata) => s.stats().errorsBy.superseded ?? 0;

  it('across a takeover: merged, nothing reported; the old app reads the merged row', async () => {
    errors.length = 0;
    await admin.query(`insert into "${pgName}".items (id, n) values ('m1', 1), ('m2', 1)`);
    const old = app(`${name}mold`);
    await old.set(schema, { id: 'm1', n: 1, note: 'from-old' } as never); // extra left out
    await old.set(schema, { id: 'm2', n: 2, note: 'whole', extra: 'whole' }); // a whole row
    await old.get(schema, 'm1');
    await lapseWriterClaims(admin, pgName);
    const neu = app(`${name}mnew`);
    await neu.set(schema, { id: 'm1', n: 7, extra: 'from-new' } as never); // note left out
    await neu.set(schema, { id: 'm2', n: 8 } as never); // note and extra left out
    await neu.flushDirty();
    await old.flushDirty();
    expect(await row('m1')).toEqual({ n: 7, note: 'from-old', extra: 'from-new' });
    expect(await row('m2')).toEqual({ n: 8, note: 'whole', extra: 'whole' });
    expect(superseded(old)).toBe(0);
    expect(errors).toHaveLength(0);
    // The old app's copies of the row before the merge went: it reads what Postgres holds.
    expect(await old.get(schema, 'm1')).toEqual({ id: 'm1', ...(await row('m1')) });
    expect(await app(`${name}mold`).get(schema, 'm2')).toEqual({ id: 'm2', ...(await row('m2')) });
    // The new owner's next partial write keeps the merged columns.
    await neu.set(schema, { id: 'm1', n: 9 } as never);
    await neu.flushDirty();
    expect(await row('m1')).toEqual({ n: 9, note: 'from-old', extra: 'from-new' });
  });

  it('across a takeover, on an L3 that cannot merge: reported with the columns; within one app: not', async () => {
    errors.length = 0;
    await admin.query(`insert into "${pgName}".items (id, n) values ('p1', 1), ('p2', 1)`);
    const old = app(`${name}old`, false);
    await old.set(schema, { id: 'p1', n: 1, note: 'from-old' } as never); // extra left out
    await old.set(schema, { id: 'p2', n: 1, note: 'same' } as never); // the new owner writes the same
    await old.set(schema, { id: 'p3', n: 1 }); // a key the new owner does not write: lands
    await lapseWriterClaims(admin, pgName);
    const neu = app(`${name}new`);
    await neu.set(schema, { id: 'p1', n: 7, extra: 'from-new' } as never); // note left out
    await neu.set(schema, { id: 'p2', n: 1, note: 'same', extra: 'x' } as never);
    await neu.flushDirty();
    await old.flushDirty();
    expect(await row('p3')).toEqual({ n: 1, note: null, extra: null });
    expect(superseded(old)).toBe(1);
    expect(errors).toHaveLength(1);
    const [{ id, error }] = errors as [{ id: string; error: unknown }];
    expect(id).toBe('p1');
    expect(isStrataError(error, 'WRITE_BEHIND_SUPERSEDED')).toBe(true);
    expect(error).toMatchObject({ details: { schema: 'items', id: 'p1', columns: ['n', 'note'] } });
    // The refused write's cached copies went: the old app reads what Postgres holds.
    expect(await old.get(schema, 'p1')).toEqual({ id: 'p1', ...(await row('p1')) });

    // Within one app (the new owner): a transaction supersedes a queued partial set, carrying it.
    const other = app(`${name}new`);
    await neu.set(schema, { id: 'p4', n: 1, note: 'queued' } as never);
    await other
      .tx()
      .set(schema, { id: 'p4', n: 2 } as never)
      .commit();
    await neu.flushDirty();
    expect(await row('p4')).toEqual({ n: 2, note: 'queued', extra: null });
    expect(superseded(neu) + superseded(other)).toBe(0);
    expect(errors).toHaveLength(1);
  });
});
