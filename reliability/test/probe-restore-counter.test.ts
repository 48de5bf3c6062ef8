import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema, type InvalidationBus, type Strata, type StrataError } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';

// A Redis restored from an OLDER snapshot while Postgres kept the writes flushed since: the app's
// write-behind counter (and the L2 rows, the shared writer claim, the queue) come back as they were,
// below versions `_strata_versions` already holds. An instance that does not remember a newer tick
// (every instance restarted, as serverless isolates do all the time) used to take versions from the
// restored counter: its writes were acknowledged, then refused at their flush as older (or equal: a
// "redelivery"), and lost. The snapshot here is the app's own keys, DUMPed (with their PTTL) before
// some writes and RESTOREd (REPLACE, the keys made since deleted) after them.

type Snapshot = { key: string; ttl: number; dump: Buffer }[];

describe('a Redis restored from an older snapshot: the write-behind counter below versions Postgres holds', () => {
  const scratch = scratchApp('restore_counter');
  const { name, pgName, raw, admin } = scratch;
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
  });
  const schema = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table);
  const app = (): Strata => scratch.strata({ schemas: [schema] });
  const ids = ['k1', 'k2', 'k3'];

  /** Every key of this app (its keyPrefix is `name`), with its remaining TTL. */
  async function snapshot(): Promise<Snapshot> {
    const keys = await raw.keys(`${name}:*`);
    return Promise.all(
      keys.map(async (key) => ({ key, ttl: await raw.pttl(key), dump: (await raw.dumpBuffer(key))! })),
    );
  }

  /** The app's keys as `snap` held them: those made since go, the others come back. */
  async function restore(snap: Snapshot): Promise<void> {
    const now = await raw.keys(`${name}:*`);
    if (now.length > 0) await raw.del(...now);
    for (const { key, ttl, dump } of snap) await raw.restore(key, Math.max(ttl, 0), dump, 'REPLACE');
  }

  const versions = async () =>
    (
      await admin.query<{ id: string; version: string }>(
        `select id, version from "${pgName}"._strata_versions where id <> '' order by id`,
      )
    ).rows.map((r) => [r.id, Number(r.version)]);

  /** Each id written `n` 5 times over (flushed): Postgres holds versions well past the snapshot's counter. */
  async function writeOften(strata: Strata, n: number): Promise<void> {
    for (let round = 0; round < 5; round++) for (const id of ids) await strata.set(schema, { id, n });
    await strata.flushDirty();
  }

  /** n of each id in Postgres, and as a fresh instance reads it (L2, then Postgres). */
  async function everywhere(): Promise<{ stored: (number | undefined)[]; read: unknown[] }> {
    const stored = await Promise.all(ids.map((id) => scratch.n(id)));
    const fresh = app();
    const read = await Promise.all(ids.map(async (id) => (await fresh.get(schema, id)).n));
    return { stored, read };
  }

  it('every instance restarted after the restore: writes acknowledged after it land in Postgres and every tier', async () => {
    const a = app();
    for (const id of ids) await a.set(schema, { id, n: 1 });
    await a.flushDirty();
    const snap = await snapshot();
    await writeOften(a, 2);
    const before = await versions();
    await a.close();
    await restore(snap);
    const b = app(); // a new instance: it remembers no tick of the Redis life it missed
    for (const id of ids) await b.set(schema, { id, n: 3 });
    await b.flushDirty();
    await b.close();
    const seen = await everywhere();
    expect(
      seen,
      `versions before the restore ${JSON.stringify(before)}, after ${JSON.stringify(await versions())}`,
    ).toEqual({
      stored: [3, 3, 3],
      read: [3, 3, 3],
    });
  });

  it('a write-through write of the app (its version reserved from the counter) is marked: after the restore a new write-behind instance lands above it', async () => {
    const through = defineSchema({ name: 'items', table });
    const a = app();
    for (const id of ids) await a.set(schema, { id, n: 1 });
    await a.flushDirty();
    const snap = await snapshot();
    const t = scratch.strata({ schemas: [through] }); // the same app, write-through (a rolling deploy)
    await t.set(through, { id: 'k1', n: 2 }); // reserved from the counter: past the snapshot's
    await t.close();
    await a.close();
    await restore(snap);
    const b = app();
    await b.set(schema, { id: 'k1', n: 3 });
    await b.flushDirty();
    await b.close();
    expect(await scratch.n('k1'), `versions ${JSON.stringify(await versions())}`).toBe(3);
  });

  it('an instance that lived through the restore after its counter was checked: the first flush that meets the gone-back counter moves it to a new epoch, so later writes land', async () => {
    const a1 = app();
    const a2 = app();
    for (const id of ids) await a1.set(schema, { id, n: 1 });
    await a1.flushDirty();
    expect((await a2.get(schema, 'k1')).n).toBe(1); // a2 knows this Redis life (its tick)
    await a2.set(schema, { id: 'other', n: 1 }); // a2 holds the claim (checked) too
    await a2.flushDirty();
    const snap = await snapshot();
    await writeOften(a1, 2); // a2 sees none of these ticks

    await a1.close();
    await restore(snap);
    await a2.set(schema, { id: 'k1', n: 3 }); // within the window (see docs/semantics.md): may be lost
    await a2.flushDirty(); // meets k1's newer stored version: the counter went back
    for (const id of ids) await a2.set(schema, { id, n: 4 });
    await a2.flushDirty();
    await a2.close();
    expect(await everywhere()).toEqual({ stored: [4, 4, 4], read: [4, 4, 4] });
  });
  // Known gap (docs/semantics.md, "Redis restarted or restored"): an instance that lived through the
  // restore with a checked, fresh claim (younger than 20 s) takes versions from the gone-back counter
  // until something checks it against Postgres: that instance's next claim renewal, any instance's
  // first write or Postgres claim, or a flush that meets a version above it. A write of a key
  // written between the snapshot and the restore, acknowledged in that window, is refused at its
  // flush as older: lost. Here the survivor's first write after the restore.
  // The gap above narrowed: an instance that heard, on the bus, of a write made after the snapshot
  // holds that write's tick as the floor of its own writes (`L2Watch.hear`), so its first write after
  // the restore finds the tick gone back, moves the counter into a new epoch, and lands.
  it('an instance that lived through the restore and heard a newer tick on the bus: its first write after it lands', async () => {
    const buses: InvalidationBus[] = [];
    const onBus = (): Strata => {
      const bus = createRedisPubSubBus({ url: scratch.redisUrl, channel: `${name}:bus` });
      buses.push(bus);
      return scratch.strata({ schemas: [schema], coherence: { bus } });
    };
    const a1 = onBus();
    const a2 = onBus();
    await a2.get(schema, 'k1'); // subscribed (a read waits for it), and knows this Redis life
    for (const id of ids) await a1.set(schema, { id, n: 1 });
    await a1.flushDirty();
    await a2.set(schema, { id: 'other', n: 1 });
    await a2.flushDirty();
    const snap = await snapshot();
    await writeOften(a1, 2);
    // a2 has heard every message (its own come back too): a1's ticks after the snapshot among them.
    const published = () => buses.reduce((sum, b) => sum + b.stats().published, 0);
    await expect.poll(() => buses[1]!.stats().received, { timeout: 5_000 }).toBe(published());
    await a1.close();
    await restore(snap);
    await a2.set(schema, { id: 'k1', n: 3 });
    await a2.flushDirty();
    await a2.close();
    expect(await scratch.n('k1'), `versions ${JSON.stringify(await versions())}`).toBe(3);
  });

  // Why the known gap below stays one: this is the surviving instance's side of it, seen from that
  // instance and from Redis exactly as there (a2 writes 'other' and flushes it, writes k1, flushes;
  // the replies, the flush's refusal and Postgres' versions and marks are the same), except that
  // here a2's k1 write was acknowledged BEFORE the snapshot, and a1's newer writes of k1 after it
  // (a1's flush took a2's write from the queue too: superseded). The restore brings a2's write back
  // in the queue, unflushed; its flush meets the same newer version and the same counter below its
  // mark. Here the write must stay refused (a newer write acknowledged after it won); there it should
  // land. A flush that gave the survivor's refused write a new version (above Postgres') would pass
  // the known gap and fail this; nothing but a clock, or a Postgres read before the write's
  // acknowledgement, tells the two apart.
  it('a write queued before the snapshot and superseded by another instance before the restore comes back with the restored queue: its flush after the restore stays refused', async () => {
    const a1 = app();
    const a2 = app();
    for (const id of ids) await a1.set(schema, { id, n: 1 });
    await a1.flushDirty();
    await a2.set(schema, { id: 'other', n: 1 });
    await a2.flushDirty();
    await a2.set(schema, { id: 'k1', n: 2 }); // acknowledged, queued
    const snap = await snapshot();
    await writeOften(a1, 3); // acknowledged after a2's write, and flushed with it (a2's superseded)
    expect(await scratch.n('k1')).toBe(3);
    await a1.close();
    await restore(snap); // a2's write is back in the queue, unflushed
    await a2.flushDirty();
    await a2.close();
    expect(await everywhere(), `versions ${JSON.stringify(await versions())}`).toEqual({
      stored: [3, 3, 3],
      read: [3, 3, 3],
    });
  });

  it("the surviving instance's first write after the restore, refused at its flush, is reported: never silently dropped", async () => {
    const errors: { id: string; error: StrataError }[] = [];
    const reported = defineSchema({
      name: 'items',
      table,
      writeMode: 'write-behind',
      hooks: { onWriteError: (id, error) => errors.push({ id, error: error as StrataError }) },
    });
    const a1 = app();
    const a2 = scratch.strata({ schemas: [reported] });
    for (const id of ids) await a1.set(schema, { id, n: 1 });
    await a1.flushDirty();
    await a2.set(reported, { id: 'other', n: 1 });
    await a2.flushDirty();
    const snap = await snapshot();
    await writeOften(a1, 2);
    await a1.close();
    await restore(snap);
    await a2.set(reported, { id: 'k1', n: 3 });
    await a2.flushDirty();
    expect(errors.map((e) => [e.id, e.error.code, e.error.details?.columns])).toEqual([
      ['k1', 'WRITE_BEHIND_SUPERSEDED', ['n']],
    ]);
    expect(a2.stats().errorsBy.superseded).toBe(1);
    // The counter moved into a new epoch at that flush: the next write lands.
    await a2.set(reported, { id: 'k1', n: 4 });
    await a2.flushDirty();
    expect(await scratch.n('k1')).toBe(4);
  });

  // Stays a known gap: giving the refused write a new version at its flush passes it, and fails the
  // write queued before the snapshot above (k1 stored 2, not 3: the older write put back over the
  // newer); no version, tick or mark tells the two apart. Closing it needs a Postgres read of the
  // counter's mark before each write-behind write is acknowledged, or a clock; it is reported instead
  // (the test before this one).
  it.fails("known gap: the surviving instance's first write after the restore, before any check, lands", async () => {
    const a1 = app();
    const a2 = app();
    for (const id of ids) await a1.set(schema, { id, n: 1 });
    await a1.flushDirty();
    await a2.set(schema, { id: 'other', n: 1 });
    await a2.flushDirty();
    const snap = await snapshot();
    await writeOften(a1, 2);
    await a1.close();
    await restore(snap);
    await a2.set(schema, { id: 'k1', n: 3 });
    await a2.flushDirty();
    await a2.close();
    expect(await scratch.n('k1')).toBe(3);
  });
});
