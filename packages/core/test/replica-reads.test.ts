/**
 * Issue 18: read-your-writes on a read replica, over a real streaming replica on loopback
 * (`startPostgresReplica`: initdb, pg_basebackup -R, hot standby), not a second database fed by
 * logical replication. Replay is paused on purpose, so the replica's lag is deterministic.
 */
import { freePort } from '@strata/devstack';
import { type PostgresReplica, startPostgresReplica } from '@strata/devstack/postgres-replica';
import { uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/l3.js';
import { readYourWrites } from '../src/engine/replica-reads.js';
import { Strata } from '../src/engine/strata.js';
import type { L3Tier } from '../src/l3/types.js';
import { Q } from '../src/query/builder.js';
import { defineSchema } from '../src/schema/define-schema.js';

const schemaName = uniqueName('pgreplica');
const items = pgSchema(schemaName).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const notes = pgSchema(schemaName).table('notes', { id: text('id').primaryKey(), n: integer('n').notNull() });
const plainTable = pgSchema(schemaName).table('plain', {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
});

/** Statements each server was sent: position checks, and reads or writes of the test's tables. */
type Tally = { position: number; table: number };
const tally: Record<'primary' | 'replica', Tally> = {
  primary: { position: 0, table: 0 },
  replica: { position: 0, table: 0 },
};
const counting = (server: keyof typeof tally) => ({
  logQuery(query: string) {
    if (query.includes('pg_is_in_recovery()')) tally[server].position++;
    else if (query.includes(`"${schemaName}"`)) tally[server].table++;
  },
});
const reset = () => {
  tally.primary = { position: 0, table: 0 };
  tally.replica = { position: 0, table: 0 };
};

let pair: PostgresReplica;
const pools: pg.Pool[] = [];
let primaryL3: L3Tier;
let replicaL3: L3Tier;
const instances: Strata[] = [];

function pool(url: string): pg.Pool {
  const p = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 2_000 });
  p.on('error', () => {});
  pools.push(p);
  return p;
}

/** A Strata with L3 only and no L1 (every read reaches L3), its schemas over `replica`. */
function instance(replica: L3Tier, config: Partial<ConstructorParameters<typeof Strata>[0]> = {}) {
  const all = defineSchema({ table: items, l1: false, l3: { readReplica: replica, replicaReads: 'all' } });
  const searchOnly = defineSchema({ table: notes, l1: false, l3: { readReplica: replica } });
  const strata = new Strata({
    l3: primaryL3,
    schemas: [all, searchOnly],
    replicas: readYourWrites,
    ...config,
  });
  instances.push(strata);
  return { strata, all, searchOnly };
}

const byId = (id: string) => Q().where('id = $1', id).build();

beforeAll(async () => {
  pair = await startPostgresReplica();
  console.log(`streaming replica pair started in ${pair.startedInMs} ms`);
  const primaryDb = drizzle({ client: pool(pair.primary.url), logger: counting('primary') });
  const replicaDb = drizzle({
    client: pool(pair.replica.url),
    logger: counting('replica'),
  });
  primaryL3 = createDrizzleL3(primaryDb, { migrationsSchema: schemaName, name: 'primary' });
  replicaL3 = createDrizzleL3(replicaDb, { migrationsSchema: schemaName, name: 'replica' });
  await primaryDb.execute(sql`create schema ${sql.identifier(schemaName)}`);
  const { strata, all, searchOnly } = instance(replicaL3);
  await strata.migrate();
  await strata.set(all, { id: 'a', n: 1 });
  await strata.set(searchOnly, { id: 'a', n: 1 });
  await pair.caughtUp();
}, 40_000);

afterAll(async () => {
  await Promise.all(instances.map((s) => s.close()));
  await Promise.all(pools.map((p) => p.end()));
  await pair?.stop();
});

beforeEach(() => reset());

describe('read-your-writes on a streaming replica', () => {
  it('the writer reads its own write from the primary while the replica lags; others read the replica', async () => {
    const writer = instance(replicaL3);
    const other = instance(replicaL3);
    await pair.pauseReplay();
    try {
      await writer.strata.set(writer.all, { id: 'a', n: 2 });
      await writer.strata.set(writer.searchOnly, { id: 'a', n: 2 });
      reset();
      // The writer: each read checks the replica's position once, finds it behind, asks the primary.
      expect(await writer.strata.search(writer.all, byId('a'))).toEqual([{ id: 'a', n: 2 }]);
      expect(await writer.strata.count(writer.all, Q().where('n = $1', 2).build())).toBe(1);
      expect(await writer.strata.get(writer.all, 'a')).toEqual({ id: 'a', n: 2 });
      expect(await writer.strata.search(writer.searchOnly, byId('a'))).toEqual([{ id: 'a', n: 2 }]);
      expect(tally).toEqual({ primary: { position: 0, table: 4 }, replica: { position: 4, table: 0 } });

      // Another instance has written nothing: the replica, paused, answers the row as it was.
      reset();
      expect(await other.strata.search(other.all, byId('a'))).toEqual([{ id: 'a', n: 1 }]);
      expect(await other.strata.get(other.all, 'a')).toEqual({ id: 'a', n: 1 });
      expect(await other.strata.count(other.searchOnly, Q().where('n = $1', 1).build())).toBe(1);
      expect(tally).toEqual({ primary: { position: 0, table: 0 }, replica: { position: 0, table: 3 } });

      // Without `replicas` (readYourWrites), a writer's reads go to the replica unchecked: stale.
      const unchecked = instance(replicaL3, { replicas: undefined });
      await unchecked.strata.set(unchecked.all, { id: 'a', n: 4 });
      expect(await unchecked.strata.get(unchecked.all, 'a')).toEqual({ id: 'a', n: 1 });
      await writer.strata.set(writer.all, { id: 'a', n: 2 });
    } finally {
      await pair.resumeReplay();
    }
    // Replayed: the writer is back on the replica, and knows it without asking again.
    reset();
    expect(await writer.strata.search(writer.all, byId('a'))).toEqual([{ id: 'a', n: 2 }]);
    expect(await writer.strata.get(writer.all, 'a')).toEqual({ id: 'a', n: 2 });
    expect(await other.strata.get(other.all, 'a')).toEqual({ id: 'a', n: 2 });
    expect(tally).toEqual({ primary: { position: 0, table: 0 }, replica: { position: 1, table: 3 } });
  });

  it("key reads stay on the primary unless the schema says replicaReads: 'all'", async () => {
    const reader = instance(replicaL3);
    expect(await reader.strata.get(reader.searchOnly, 'a')).toMatchObject({ id: 'a' });
    expect(await reader.strata.getMany(reader.all, ['a'])).toMatchObject([{ id: 'a' }]);
    expect(tally.primary.table).toBe(1);
    expect(tally.replica.table).toBe(1);
  });

  it('reads waiting on a newer replay position share one position query', async () => {
    const writer = instance(replicaL3);
    await writer.strata.set(writer.all, { id: 'b', n: 1 });
    await pair.caughtUp();
    reset();
    const found = await Promise.all(
      Array.from({ length: 10 }, () => writer.strata.search(writer.all, byId('b'))),
    );
    expect(found).toEqual(Array.from({ length: 10 }, () => [{ id: 'b', n: 1 }]));
    expect(tally).toEqual({ primary: { position: 0, table: 0 }, replica: { position: 1, table: 10 } });
  });

  it('each replicated write reads the primary position once after it commits; others none', async () => {
    const writer = instance(replicaL3);
    const plain = defineSchema({ table: plainTable, l1: false });
    writer.strata.register(plain);
    await writer.strata.migrate();
    await writer.strata.set(writer.all, { id: 'c', n: 1 });
    await writer.strata.setMany(writer.all, [
      { id: 'c', n: 2 },
      { id: 'd', n: 2 },
    ]);
    await writer.strata.delete(writer.all, 'd');
    expect(tally.primary.position).toBe(3);
    reset();
    await writer.strata.set(plain, { id: 'c', n: 3 });
    expect(tally.primary.position).toBe(0);
  });

  it('a position read that fails after a write fails nothing; the next read asks the primary first', async () => {
    let failures = 1;
    // The primary L3, its walPosition failing once (as a dropped connection would).
    const flaky = new Proxy(primaryL3, {
      get(target, prop) {
        if (prop === 'walPosition')
          return () =>
            failures-- > 0 ? Promise.reject(new Error('connection lost')) : target.walPosition!();
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const writer = instance(replicaL3, { l3: flaky });
    await pair.pauseReplay();
    try {
      await writer.strata.set(writer.all, { id: 'e', n: 1 });
      expect(failures).toBe(0);
      reset();
      expect(await writer.strata.get(writer.all, 'e')).toEqual({ id: 'e', n: 1 });
      expect(tally).toEqual({ primary: { position: 1, table: 1 }, replica: { position: 1, table: 0 } });
      reset();
      // Known again: the next read asks only the replica.
      expect(await writer.strata.search(writer.all, byId('e'))).toEqual([{ id: 'e', n: 1 }]);
      expect(tally).toEqual({ primary: { position: 0, table: 1 }, replica: { position: 1, table: 0 } });
    } finally {
      await pair.resumeReplay();
    }
  });

  it('measures what the position read costs a write (printed, not asserted)', async () => {
    const writer = instance(replicaL3);
    const plain = defineSchema({ table: plainTable, l1: false });
    writer.strata.register(plain);
    const perWrite = async (schema: typeof plain, n: number, from: number) => {
      const start = performance.now();
      for (let i = 0; i < n; i++) await writer.strata.set(schema, { id: `m${from + i}`, n: i });
      return (performance.now() - start) / n;
    };
    const with_: number[] = [];
    const without: number[] = [];
    // Interleaved rounds, so a slow moment of the machine falls on both.
    for (let round = 0; round < 5; round++) {
      with_.push(await perWrite(writer.all as unknown as typeof plain, 40, round * 40));
      without.push(await perWrite(plain, 40, round * 40));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `write-through set, loopback: ${median(without).toFixed(3)} ms without a replica, ` +
        `${median(with_).toFixed(3)} ms with one (+${(median(with_) - median(without)).toFixed(3)} ms: the position read)`,
    );
    expect(tally.primary.position).toBe(200);
  });

  it('a replica that is down: reads are answered by the primary, counted, and the replica is left alone for the cooldown', async () => {
    const nobody = await freePort();
    const downDb = drizzle({
      client: pool(`postgres://postgres@127.0.0.1:${nobody}/postgres`),
      logger: counting('replica'),
    });
    const down = createDrizzleL3(downDb, { migrationsSchema: schemaName, name: 'down' });
    const reader = instance(down, { breaker: { failureThreshold: 2, cooldown: '1h' } });
    for (let i = 0; i < 4; i++) {
      expect(await reader.strata.search(reader.all, byId('a'))).toEqual([{ id: 'a', n: 2 }]);
      expect(await reader.strata.get(reader.all, 'a')).toEqual({ id: 'a', n: 2 });
    }
    // Two attempts failed (the threshold), then 6 reads went to the primary without trying.
    expect(tally.replica.table).toBe(2);
    expect(tally.primary.table).toBe(8);
    expect(reader.strata.stats().errorsBy.l3).toBe(2);
    // A writer whose replica is down: its reads after a write go to the primary too.
    const writer = instance(down);
    await writer.strata.set(writer.all, { id: 'a', n: 3 });
    reset();
    expect(await writer.strata.get(writer.all, 'a')).toEqual({ id: 'a', n: 3 });
    expect(tally.primary.table).toBe(1);
    expect(writer.strata.stats().errorsBy.l3).toBe(1);
  });
});
