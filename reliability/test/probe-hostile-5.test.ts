import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import {
  createMemoryQueue,
  defineSchema,
  isStrataError,
  type L2Tier,
  type L3Tier,
  Q,
  type Strata,
  type StrataConfig,
} from '@strata/core';
import { reencrypt } from '@strata/core/admin';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { msgpackCodec } from '@strata/core/msgpack';
import { strataRejection } from '@strata/core/testing';
import { lapseWriterClaims } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { describedTierStack, scratchApp } from '../support/scratch-app.js';
import { testKey } from '../support/stack-tiers.js';

// Hostile round 5: setups the earlier probes do not walk. Each probe is a deployment-shaped
// scenario on the real Redis and Postgres, asserting what every tier holds after the fact.

const K1 = testKey(1);
const K2 = testKey(2);
const ROTATED = { keys: { k1: K1, k2: K2 }, current: 'k2' };
const OLD = { keys: { k1: K1 }, current: 'k1' };
const NEW_ONLY = { keys: { k2: K2 }, current: 'k2' };

/** A gate a test opens by hand: `wait()` resolves once `open()` was called. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait: () => opened, open };
}

/** Resolves once `done()` holds (checked on each turn of the event loop), or fails after 5 s. */
async function until(done: () => boolean): Promise<void> {
  const by = Date.now() + 5_000;
  while (!done()) {
    if (Date.now() > by) throw new Error('until: timed out');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe('key rotation: a slow read racing reencrypt, then the old key retired', () => {
  // A reader on the rotated keyring reads a k1 row from Postgres; its reply comes late (a slow
  // query, a GC pause), after `reencrypt` moved the row to k2 and dropped its cached copies. Then
  // the old key is retired. docs/encryption.md: after reencrypt, an instance holding only k2 reads
  // every row, from L3 and L2.
  const fixture = describedTierStack('hostile5_rot');
  const { open } = fixture;

  for (const writeMode of ['write-through', 'write-behind'] as const) {
    it(`${writeMode}: the late fill of the k1 ciphertext does not outlive reencrypt`, async () => {
      const { stack } = fixture;
      const schema = stack.schemaOf({
        name: `rot_${writeMode === 'write-through' ? 'wt' : 'wb'}`,
        writeMode,
      });
      const id = `slow_${writeMode}`;
      const queue = createMemoryQueue();
      const wb = writeMode === 'write-behind' ? { writeBehind: { queue } } : {};
      const writer = open({ schemas: [schema], encryptionKey: OLD, ...wb });
      await writer.set(schema, { id, name: 'slow', email: 'slow@rotation.example' });
      await writer.flushDirty();
      await writer.invalidate(schema, id);

      // The reader's Postgres reply is held until reencrypt is done.
      const held = gate();
      const replied = gate();
      const slowL3: L3Tier = new Proxy(stack.l3, {
        get(target, prop) {
          const value = Reflect.get(target, prop, target) as unknown;
          if (prop !== 'findMany' || typeof value !== 'function') {
            return typeof value === 'function' ? value.bind(target) : value;
          }
          return async (...args: Parameters<L3Tier['findMany']>) => {
            const rows = await target.findMany(...args);
            replied.open();
            await held.wait();
            return rows;
          };
        },
      });
      const reader = open({ schemas: [schema], encryptionKey: ROTATED, l3: slowL3, ...wb });
      const read = reader.get(schema, id);
      await replied.wait();
      const admin = open({ schemas: [schema], encryptionKey: ROTATED, ...wb });
      expect(await reencrypt(admin, schema)).toMatchObject({ reencrypted: 1 });
      expect((await stack.l3Snapshot()).find((r) => r.id === id)?.email).toMatch(/^v2\.k2\./);
      held.open();
      expect((await read).email).toBe('slow@rotation.example');
      await reader.settled();

      // No L2 copy of the row holds the k1 ciphertext any more (encryption.md: reencrypt drops them).
      const l2Values = async () =>
        Object.entries(await stack.l2Snapshot()).filter(([k]) => k.endsWith(`:r:${id}`));
      for (const [key, value] of await l2Values()) expect(value, key).not.toContain('v2.k1.');
      // k1 retired: an instance holding only k2 reads the row from L2, with no error to tolerate.
      const retired = open({ schemas: [schema], encryptionKey: NEW_ONLY, ...wb });
      expect((await retired.get(schema, id)).email).toBe('slow@rotation.example');
      expect(retired.stats().errorsBy.l2 ?? 0).toBe(0);
      await retired.settled();
      // The copy L2 holds now reads with k2 alone. Whose it is: reencrypt wrote the key after the
      // slow read's L2 read, so PUT refuses that read's fill of the emptied key (`late`, the tick
      // check of docs/redis-eviction.md), and the first k2-only read fills it instead.
      const next = open({ schemas: [schema], encryptionKey: NEW_ONLY, ...wb });
      expect((await next.get(schema, id)).email).toBe('slow@rotation.example');
      expect(next.stats().errorsBy.l2 ?? 0).toBe(0);
      expect(next.stats().hits.l2).toBe(1);
      for (const [key, value] of await l2Values()) expect(value, key).not.toContain('v2.k1.');
    });
  }
});

describe('key rotation: reencrypt whose UPDATE reply is lost (it committed), run again, then k1 retired', () => {
  // The connection drops after Postgres committed the page's UPDATE: reencrypt rejects. The
  // operator runs it again: every row is under k2 already, so it rewrites nothing. The L2 copies of
  // the rows the first run moved (cached under k1 before) must not outlive it: docs/encryption.md
  // says reencrypt drops the old copies, and the old key is retired after it.
  const fixture = describedTierStack('hostile5_rotlost');
  const { open } = fixture;

  it('the rows the lost reply moved leave L2 too', async () => {
    const { stack } = fixture;
    const schema = stack.schemaOf({ name: 'rot_lost' });
    const writer = open({ schemas: [schema], encryptionKey: OLD });
    await writer.set(schema, { id: 'lost1', name: 'l', email: 'lost@rotation.example' });
    expect((await writer.get(schema, 'lost1')).email).toBe('lost@rotation.example'); // L2 holds k1
    let cut = false;
    const cutL3: L3Tier = new Proxy(stack.l3, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (prop !== 'replaceValues' || typeof value !== 'function') {
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (...args: Parameters<L3Tier['replaceValues']>) => {
          const changed = await target.replaceValues(...args);
          if (!cut) {
            cut = true;
            throw new Error('Connection terminated unexpectedly'); // committed, reply lost
          }
          return changed;
        };
      },
    });
    const admin = open({ schemas: [schema], encryptionKey: ROTATED, l3: cutL3 });
    await expect(reencrypt(admin, schema)).rejects.toThrow();
    expect((await stack.l3Snapshot()).find((r) => r.id === 'lost1')?.email).toMatch(/^v2\.k2\./);
    expect(await reencrypt(admin, schema)).toMatchObject({ reencrypted: 0 });
    const values = Object.entries(await stack.l2Snapshot()).filter(([k]) => k.endsWith(':r:lost1'));
    for (const [key, value] of values) expect(value, key).not.toContain('v2.k1.');
    const retired = open({ schemas: [schema], encryptionKey: NEW_ONLY });
    expect((await retired.get(schema, 'lost1')).email).toBe('lost@rotation.example');
    expect(retired.stats().errorsBy.l2 ?? 0).toBe(0);
  });
});

describe('a rolling deploy of a write-behind schema where only the OLD version has a column', () => {
  // v1 (old code) maps `legacy`; v2 (new code) no longer does, though the table still has it. A
  // write v1 queued while alone carries `legacy`; v2 then registers and writes the key. The
  // acknowledged `legacy` value must reach Postgres whoever flushes and whatever writes after it.
  const scratch = scratchApp('hostile5_old');
  const { name, pgName, redisUrl, admin, raw } = scratch;
  const v1 = defineSchema({
    name: 'items',
    table: pgSchema(pgName).table('items', {
      id: text('id').primaryKey(),
      n: integer('n').notNull(),
      legacy: text('legacy'),
      note: text('note'),
    }),
    writeMode: 'write-behind',
  });
  const v2 = defineSchema({
    name: 'items',
    table: pgSchema(pgName).table('items', {
      id: text('id').primaryKey(),
      n: integer('n').notNull(),
      note: text('note'),
    }),
    writeMode: 'write-behind',
  });
  scratch.migrate(v1.table);
  /** Peeks of the other shapes' pending indexes (PENDING `peek`) through each app's L2. */
  const peeks = new Map<Strata, number>();
  const app = (keyPrefix: string, schema: typeof v1 | typeof v2) => {
    const l2 = createIoredisL2(redisUrl);
    const counted: L2Tier = {
      name: l2.name,
      getMany: (keys) => l2.getMany(keys),
      run: (script, keys, args, ...rest) => {
        // Only peeks of the OTHER version's index (not its own, which a partial set reads).
        if (script.name === 'pending' && args[0] === 'peek' && !keys[0]!.includes(schema.fingerprint))
          peeks.set(strata, (peeks.get(strata) ?? 0) + 1);
        return l2.run(script, keys, args, ...rest);
      },
      close: () => l2.close(),
    };
    const strata: Strata = scratch.strata({
      l2: counted,
      keyPrefix,
      schemas: [schema],
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${keyPrefix}:bus` }) },
    });
    return strata;
  };
  const stored = async (id: string) =>
    (await admin.query(`select n, legacy, note from "${pgName}".items where id = $1`, [id])).rows[0] as
      | { n: number; legacy: string | null; note: string | null }
      | undefined;

  it('v2 writes the key before the flush: the old-only column v1 queued is kept', async () => {
    const prefix = `${name}a`;
    await admin.query(`insert into "${pgName}".items (id, n, legacy) values ('a1', 0, 'before')`);
    const old = app(prefix, v1);
    await old.set(v1, { id: 'a1', n: 1, legacy: 'queued' }); // alone: pending, queued
    const neu = app(prefix, v2);
    // Both live: v2's write goes through Postgres at a later version. It waits for v1's queued
    // write of the key (which carries a column v2 cannot write) to be flushed by v1 first.
    const indexes = await raw.keys(`${prefix}:*:pending`);
    const entries = await Promise.all(indexes.map((key) => raw.hgetall(key)));
    expect(entries.filter((e) => Object.keys(e).length > 0)).toHaveLength(1); // v1's, for a1
    let done = false;
    const write = neu.set(v2, { id: 'a1', n: 2 }).finally(() => {
      done = true;
    });
    // Until it has written, or has looked for v1's queued write again and again (it waits for its flush).
    await until(() => done || (peeks.get(neu) ?? 0) >= 5);
    await old.flushDirty();
    await write;
    expect(await stored('a1')).toEqual({ n: 2, legacy: 'queued', note: null });
    // An index entry its flush failed to settle (put back here) is not waited for: its row is not pending.
    for (const [i, key] of indexes.entries())
      if (Object.keys(entries[i]!).length > 0) await raw.hset(key, entries[i]!);
    // Not held: one look at v1's index (a held write looks again every 50 ms until v1's flush). Counted,
    // not timed: CI's load stretched a set that did not wait past a 1 s bound.
    const looks = () => peeks.get(neu) ?? 0;
    let before = looks();
    await neu.set(v2, { id: 'a1', n: 4 });
    expect(looks() - before, 'looked once, not held').toBe(1);
    await neu.set(v2, { id: 'a1', n: 2 });
    // A key with nothing queued by v1 is not held: one write, no wait.
    before = looks();
    await neu.set(v2, { id: 'a2', n: 3 });
    expect(looks() - before, 'looked once, not held').toBe(1);
    expect(await app(prefix, v1).get(v1, 'a1')).toEqual({ id: 'a1', n: 2, legacy: 'queued', note: null });
  });

  it('the v2 instance flushes the write v1 queued (one consumer group): the old-only column lands', async () => {
    const prefix = `${name}b`;
    await admin.query(`insert into "${pgName}".items (id, n, legacy) values ('b1', 0, 'before')`);
    const old = app(prefix, v1);
    await old.set(v1, { id: 'b1', n: 1, legacy: 'queued' });
    const neu = app(prefix, v2);
    await neu.get(v2, 'b1');
    await neu.flushDirty();
    await old.flushDirty();
    expect(await stored('b1')).toEqual({ n: 1, legacy: 'queued', note: null });
  });

  it('a partial set by v2 over a partial set v1 queued: the columns v1 sent are kept', async () => {
    const prefix = `${name}c`;
    await admin.query(`insert into "${pgName}".items (id, n, legacy) values ('c1', 0, 'before')`);
    const old = app(prefix, v1);
    await old.set(v1, { id: 'c1', n: 7, note: 'v1' }); // leaves `legacy` out: queued without it
    const neu = app(prefix, v2);
    let done = false;
    const write = neu.set(v2, { id: 'c1', n: 8 }).finally(() => {
      done = true;
    }); // leaves `note` out, through Postgres
    await until(() => done || (peeks.get(neu) ?? 0) >= 5);
    await old.flushDirty();
    await write;
    expect(await stored('c1')).toEqual({ n: 8, legacy: 'before', note: 'v1' });
    expect(await app(prefix, v2).get(v2, 'c1')).toEqual({ id: 'c1', n: 8, note: 'v1' });
  });
});

describe('two apps (two keyPrefixes) writing one table write-behind, on one Redis and one database', () => {
  // An API and a worker, each its own keyPrefix (its own caches, queue and version counter), both
  // write-behind on one table. Versions of two apps' counters do not compare (the worker, started
  // later, would write in a later epoch and beat every later write of the API), so one app writes a
  // table at a time (docs/semantics.md, "One writer per table"): the other is refused
  // (INVALID_CONFIG, nothing written in any tier) until the first app's claim lapses (60 s after its
  // last write or flush; here lapsed by hand), then takes the table over in a new epoch, above
  // every version the first app wrote. No acknowledged write is lost.
  const scratch = scratchApp('hostile5_apps');
  const { name, pgName, admin, raw } = scratch;
  const table = pgSchema(pgName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const shared = pgSchema(pgName).table('shared', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const schema = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table, shared);
  const app = (keyPrefix: string, schemas: StrataConfig['schemas'] = [schema]) =>
    scratch.strata({ keyPrefix, schemas });
  const lapse = () => lapseWriterClaims(admin, pgName, { redis: raw, keyPrefix: name });
  const { n } = scratch;
  const rowKeys = async (keyPrefix: string) =>
    (await raw.keys(`${keyPrefix}:*`)).filter((k) => k.includes(':r:'));

  it("the second app's write-behind write is refused while the first holds the table: nothing of it in any tier", async () => {
    await lapse();
    const api = app(`${name}api`);
    await api.set(schema, { id: 'k1', n: 1 });
    await api.flushDirty();
    const worker = app(`${name}worker`);
    const refused = await worker.set(schema, { id: 'k1', n: 2 }).catch((e: unknown) => e);
    expect(isStrataError(refused, 'INVALID_CONFIG')).toBe(true);
    expect((refused as Error).message).toContain(`'${name}api:${schema.identity}'`);
    expect((refused as Error).message).toContain(schema.identity);
    const tx = await worker
      .tx()
      .set(schema, { id: 'k2', n: 2 })
      .commit()
      .catch((e: unknown) => e);
    expect(isStrataError(tx, 'INVALID_CONFIG')).toBe(true);
    // Not in Postgres, not in L2 (no row key, nothing queued), not in L1 (the worker reads n: 1).
    expect(await n('k1')).toBe(1);
    expect(await n('k2')).toBeUndefined();
    expect(await rowKeys(`${name}worker`)).toEqual([]);
    expect(await worker.queueDepth()).toBe(0);
    expect((await worker.get(schema, 'k1')).n).toBe(1);
    expect(await worker.find(schema, 'k2')).toBeNull();
  });

  it('once the first app is stopped and its claim lapsed, the second takes over: each write made after the other app flushed lands', async () => {
    await lapse();
    const api = app(`${name}api`);
    await api.set(schema, { id: 'k1', n: 1 });
    await api.flushDirty();
    await api.close(); // stopped: its claim lapses 60 s later (here: now)
    await lapse();
    const worker = app(`${name}worker`);
    await worker.set(schema, { id: 'k1', n: 2 });
    await worker.flushDirty();
    expect(await n('k1')).toBe(2);
    // The API back while the worker holds the table: refused, nothing written.
    const api2 = app(`${name}api`);
    const refused = await api2.set(schema, { id: 'k1', n: 9 }).catch((e: unknown) => e);
    expect(isStrataError(refused, 'INVALID_CONFIG')).toBe(true);
    await worker.close();
    await lapse();
    // Its counter is still in the epoch before the worker's: taking over starts a new one.
    await api2.set(schema, { id: 'k1', n: 3 });
    await api2.flushDirty();
    expect(await n('k1')).toBe(3);
  });

  it('a write-through app next to a live write-behind owner is refused; two write-through apps share a table', async () => {
    await lapse();
    const api = app(`${name}api`);
    await api.set(schema, { id: 'k1', n: 1 });
    const through = defineSchema({ name: 'items', table });
    const reader = app(`${name}reader`, [through]);
    const refused = await reader.set(through, { id: 'k1', n: 5 }).catch((e: unknown) => e);
    expect(isStrataError(refused, 'INVALID_CONFIG')).toBe(true);
    await api.flushDirty();
    expect(await n('k1')).toBe(1);
    // Two write-through apps on one table: both write; a write-behind app next to them is refused.
    const sharedThrough = defineSchema({ name: 'shared', table: shared });
    const one = app(`${name}one`, [sharedThrough]);
    const two = app(`${name}two`, [sharedThrough]);
    await one.set(sharedThrough, { id: 's1', n: 1 });
    await two.set(sharedThrough, { id: 's1', n: 2 });
    await one.set(sharedThrough, { id: 's2', n: 3 });
    const rows = await admin.query(`select id, n from "${pgName}".shared order by id`);
    expect(rows.rows).toEqual([
      { id: 's1', n: 2 },
      { id: 's2', n: 3 },
    ]);
    const sharedBehind = defineSchema({ name: 'shared', table: shared, writeMode: 'write-behind' });
    const behind = app(`${name}behind`, [sharedBehind]);
    const late = await behind.set(sharedBehind, { id: 's1', n: 4 }).catch((e: unknown) => e);
    expect(isStrataError(late, 'INVALID_CONFIG')).toBe(true);
  });
});

describe('a Redis that loses its data after another instance flushed a delete (no bus)', () => {
  // Two instances of one app share the write stream's consumer group; they run without a bus. The
  // writer A deletes a key; B's flusher applies the delete. Redis then restarts without its data
  // (here: every key under this app's prefix deleted), and A puts back its unflushed writes. A
  // delete Postgres already applied must not come back as a pending tombstone: a pending row is
  // kept a week and neither `invalidate` nor a captured change may drop it.
  const scratch = scratchApp('hostile5_reset');
  const { name, pgName, admin, wipe, raw } = scratch;
  const table = pgSchema(pgName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const schema = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table);
  const instance = () => scratch.strata({ schemas: [schema] });

  it('the delete is not put back pending: a row inserted outside Strata reads after invalidate', async () => {
    const a = instance();
    const b = instance();
    await a.set(schema, { id: 'd1', n: 1 });
    await a.flushDirty();
    await a.delete(schema, 'd1'); // pending in L2, queued
    await b.flushDirty(); // B's flusher applies A's delete; A is not told (no bus)
    expect((await admin.query(`select 1 from "${pgName}".items where id = 'd1'`)).rowCount).toBe(0);
    await wipe();
    // A's next L2 request finds the reset and puts its unflushed writes back first.
    expect(await a.find(schema, 'other')).toBeNull();
    expect(a.stats().errorsBy['l2-reset']).toBe(1);
    const pendingTombstones = async () =>
      Object.entries(await rawValues()).filter(([k, v]) => k.endsWith(':r:d1') && /^~1;a;1;/.test(v ?? ''));
    expect(await pendingTombstones()).toEqual([]);
    // An admin re-inserts the row by SQL, then drops the cached copies, as the docs say to.
    await admin.query(`insert into "${pgName}".items (id, n) values ('d1', 5)`);
    await a.invalidate(schema, 'd1');
    expect(await a.find(schema, 'd1')).toEqual({ id: 'd1', n: 5 });
    expect(await instance().find(schema, 'd1')).toEqual({ id: 'd1', n: 5 });
  });

  const rawValues = async () => {
    const keys = await raw.keys(`${name}:*:r:*`);
    const out: Record<string, string | null> = {};
    for (const key of keys) out[key] = await raw.get(key);
    return out;
  };
});

describe('a rolling deploy that changes the codec (JSON to MessagePack) of a write-behind schema', () => {
  // v1 runs the default JSON codec, v2 `msgpackCodec`; both on one keyPrefix and one write stream
  // (one consumer group). docs/semantics.md lists a codec change among the rolling deploys that stay
  // coherent. A write v1 queued must reach Postgres whichever instance's flusher takes it.
  const scratch = scratchApp('hostile5_codec');
  const { pgName } = scratch;
  const table = pgSchema(pgName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const schema = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table);
  const instance = (codec?: typeof msgpackCodec) =>
    scratch.strata({ schemas: [schema], ...(codec && { codec }) });
  const { n } = scratch;

  it("the MessagePack instance's flusher does not dead-letter the JSON instance's queued write", async () => {
    const v1 = instance();
    await v1.set(schema, { id: 'c1', n: 1 }); // alone: pending, queued as JSON
    const v2 = instance(msgpackCodec);
    await v2.find(schema, 'c1'); // registers v2's shape (v2 cannot read v1's queued row: a documented limit)
    await v2.flushDirty().catch(() => undefined);
    await v1.flushDirty();
    expect(await n('c1')).toBe(1);
    expect(v1.stats().deadLettered + v2.stats().deadLettered).toBe(0);
    expect((await v1.get(schema, 'c1')).n).toBe(1);
  });
});

describe('two tenants (two Postgres schemas) on one Redis, each schema with the same l2.keyPrefix', () => {
  // Tenants by Postgres schema (qualified tables tenant_a.items and tenant_b.items), one database,
  // one app keyPrefix; a developer gave both Strata schemas `l2: { keyPrefix: 'items' }` (short keys).
  // docs/semantics.md: two tenants on one Redis never read or write each other's rows.
  const scratch = scratchApp('hostile5_l2p');
  const { name, admin, db } = scratch;
  const tableOf = (tenant: string) =>
    pgSchema(`${name}_${tenant}`).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const tables = { a: tableOf('a'), b: tableOf('b') };
  scratch.migrate(tables.a, tables.b);
  const defined = (tenant: 'a' | 'b') =>
    defineSchema({
      name: 'items',
      table: tables[tenant],
      writeMode: 'write-behind',
      l2: { keyPrefix: 'items' },
    });
  const schemas = { a: defined('a'), b: defined('b') };
  const schemaOf = (tenant: 'a' | 'b') => schemas[tenant];
  const app = (tenant: 'a' | 'b') =>
    scratch.strata({
      l3: createDrizzleL3(db, { migrationsSchema: `${name}_${tenant}` }),
      schemas: [schemaOf(tenant)],
      writeBehind: { queue: createMemoryQueue() },
    });

  it("tenant B never reads tenant A's queued row, by key or by search", async () => {
    await admin.query(`insert into "${name}_b".items (id, n) values ('shared', 1)`);
    const a = app('a');
    await a.set(schemaOf('a'), { id: 'shared', n: 999 }); // queued in A, pending in L2
    await a.set(schemaOf('a'), { id: 'a-only', n: 7 });
    const b = app('b');
    expect(await b.find(schemaOf('b'), 'a-only')).toBeNull();
    expect(await b.find(schemaOf('b'), 'shared')).toEqual({ id: 'shared', n: 1 });
    expect(await b.search(schemaOf('b'), Q().orderBy('id').build())).toEqual([{ id: 'shared', n: 1 }]);
    expect(await b.count(schemaOf('b'), Q().build())).toBe(1);
    // B cannot order write-behind writes in a base another table holds: a typed refusal, nothing written.
    const refused = await strataRejection(b.set(schemaOf('b'), { id: 'shared', n: 2 }));
    expect(refused.code).toBe('L2_UNAVAILABLE');
    expect(b.stats().errorsBy.l2).toBeGreaterThan(0);
    // A keeps its base: it reads its own queued writes, and flushes them into its own table only.
    expect(await a.getMany(schemaOf('a'), ['shared', 'a-only'])).toEqual([
      { id: 'shared', n: 999 },
      { id: 'a-only', n: 7 },
    ]);
    await a.flushDirty();
    expect((await admin.query(`select id, n from "${name}_a".items order by id`)).rows).toEqual([
      { id: 'a-only', n: 7 },
      { id: 'shared', n: 999 },
    ]);
    expect((await admin.query(`select id, n from "${name}_b".items order by id`)).rows).toEqual([
      { id: 'shared', n: 1 },
    ]);
  });
});

describe('Redis restarted without its data in the middle of a write-behind flush', () => {
  // The write stream lives on the L2's Redis (one round trip per write). The flusher took a batch
  // and sent it to Postgres; Redis loses everything of this app (here: its keys deleted) before
  // Postgres answers. The writes were applied; the acks find no stream. The app must go on: the
  // flushed rows are read back, later writes are acknowledged and flushed, nothing is stuck.
  const scratch = scratchApp('hostile5_mid');
  const { pgName, db, wipe, n } = scratch;
  const table = pgSchema(pgName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const schema = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table);

  it('the flushed writes read back, and writes after it are acknowledged and flushed', async () => {
    const l3 = createDrizzleL3(db, { migrationsSchema: pgName });
    let wipes = 0;
    const wiping: L3Tier = new Proxy(l3, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (prop !== 'write' || typeof value !== 'function') {
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (...args: Parameters<L3Tier['write']>) => {
          const result = await target.write(...args);
          if (wipes++ === 0) await wipe();
          return result;
        };
      },
    });
    const strata = scratch.strata({ l3: wiping, schemas: [schema] });
    await strata.setMany(schema, [
      { id: 'm1', n: 1 },
      { id: 'm2', n: 2 },
    ]);
    await strata.flushDirty().catch(() => undefined);
    expect([await n('m1'), await n('m2')]).toEqual([1, 2]);
    expect(await strata.getMany(schema, ['m1', 'm2'])).toEqual([
      { id: 'm1', n: 1 },
      { id: 'm2', n: 2 },
    ]);
    await strata.set(schema, { id: 'm1', n: 3 });
    await strata.set(schema, { id: 'm3', n: 4 });
    expect((await strata.get(schema, 'm1')).n).toBe(3);
    await strata.flushDirty();
    expect([await n('m1'), await n('m3')]).toEqual([3, 4]);
    expect(await strata.getMany(schema, ['m1', 'm2', 'm3'])).toEqual([
      { id: 'm1', n: 3 },
      { id: 'm2', n: 2 },
      { id: 'm3', n: 4 },
    ]);
    expect(strata.stats().dirtyCount).toBe(0);
    expect(wipes).toBeGreaterThanOrEqual(2); // the wipe came between the first flush's commit and its acks
    expect(strata.stats().errorsBy['l2-reset']).toBeGreaterThanOrEqual(1);
  });
});
