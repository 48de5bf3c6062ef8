/**
 * Change capture inside workerd, as a Worker runs it: two isolates (two env objects, so two
 * `createStrata` instances with their own L1) share an Upstash L2 and a Postgres behind Neon HTTP.
 * A write made outside Strata (raw SQL through `neon()`) reaches both: the isolate that takes the
 * relay's lease reads the change log and invalidates, the other learns through the log bus.
 */
import { env } from 'cloudflare:workers';
import { neon, neonConfig } from '@neondatabase/serverless';
import { changeRelay, defineSchema, Q, type Strata } from '@strata/core';
import { changeCapture, drizzleMigrate } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStrata } from '../src/index.js';
import { upstashCommand } from './support/upstash-rest.js';
import { waitFor } from './support/write-behind.js';

// In a deployed Worker this stays unset and `neon()` reaches Neon; here it is the local endpoint.
neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT;
const sql = neon(env.DATABASE_URL);

const tableName = uniqueName('cc_players');
const keyPrefix = uniqueName('cc');
const players = defineSchema({
  table: pgTable(tableName, {
    id: text('id').primaryKey(),
    username: text('username').notNull(),
    level: integer('level').notNull().default(1),
  }),
  l1: { ttl: '60s' },
  l2: { ttl: '5m' },
});

const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const options = {
  schemas: [players],
  keyPrefix,
  changeCapture,
  drizzleMigrate,
  capture: { relay: changeRelay({ interval: '50ms' }) },
  coherence: { pollInterval: 50 },
};
// createStrata keeps one instance per env object: two copies of env stand for two isolates.
const a: Strata = createStrata({ ...env }, options);
const b: Strata = createStrata({ ...env }, options);

/** A write Strata does not make: what psql, a cron job or another service would do. */
const outsideUpdate = (id: string, level: number) =>
  sql.query(`update "${tableName}" set level = $1 where id = $2`, [level, id]);

/** `get` as a request would make it, then what the request hands to waitUntil. */
async function request(strata: Strata, id: string) {
  const row = await strata.get(players, id);
  await strata.settled();
  return row;
}

/**
 * Waits until B has applied the bus messages A published before the call (`applied`: B's
 * `invalidationsApplied` before them). An isolate reads the log only before a read, at most every
 * `coherence.pollInterval`: with no call in flight nothing polls, so it reads a key no test writes
 * until a poll has applied something. Every poll it starts reads the log to its end.
 */
async function bHeard(applied: number): Promise<void> {
  const heard = await waitFor(
    'B applied A’s message',
    async () => {
      await b.find(players, 'poll-probe');
      await b.settled();
      return b.stats().invalidationsApplied > applied;
    },
    5_000,
  );
  expect(heard).toBe(true);
}

/** Sets `id` through A and reads it through both, so both isolates hold it in L1. */
async function cachedInBoth(id: string): Promise<void> {
  const applied = b.stats().invalidationsApplied;
  await a.set(players, { id, username: `u-${id}`, level: 1 });
  // B hears the set's message before it reads: heard between its two reads, it dropped the row its
  // first read filled (held at the message's version), and the second missed L1.
  await a.settled(); // the message is in the log
  await bHeard(applied);
  for (const strata of [a, b]) {
    expect(await request(strata, id)).toEqual({ id, username: `u-${id}`, level: 1 });
    const l1Hits = strata.stats().hits.l1;
    expect(await request(strata, id)).toMatchObject({ level: 1 });
    expect(strata.stats().hits.l1).toBe(l1Hits + 1);
  }
}

beforeAll(async () => {
  await a.migrate({ capture: true });
  expect(await a.capture.check()).toEqual([
    { schema: players.name, installed: true, missing: [], ddl: 'event-trigger' },
  ]);
  // The app's first poll stores the cursor ("now"): it is a gap (nothing said what came before).
  expect(await a.relayChanges()).toMatchObject({ status: 'applied', gap: true });
});

// No poll of an earlier step still in flight (one would hold the lease or take the changes).
beforeEach(async () => {
  await Promise.all([a.settled(), b.settled()]);
});

afterAll(async () => {
  await a.capture.remove();
  for (const strata of [a, b]) await strata.close();
  await sql.query(`drop table if exists "${tableName}"`);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
});

describe('change capture in workerd', () => {
  it('relayChanges on one isolate applies an outside write; the other drops its L1 copy through the bus', async () => {
    await cachedInBoth('p1');
    const before = { a: a.stats().capture, bBus: b.stats().invalidationsApplied };

    await outsideUpdate('p1', 99);
    const outcome = await a.relayChanges();
    expect(outcome).toMatchObject({ status: 'applied', gap: false });
    expect(outcome?.status === 'applied' && outcome.changes).toBeGreaterThanOrEqual(1);

    const after = a.stats().capture;
    expect(after.changesApplied).toBeGreaterThanOrEqual(before.a.changesApplied + 1);
    expect(after.idsInvalidated).toBeGreaterThanOrEqual(before.a.idsInvalidated + 1);
    expect(after.relay?.changes).toBeGreaterThanOrEqual((before.a.relay?.changes ?? 0) + 1);
    expect(after.relay?.errors).toBe(0);

    expect(await request(a, 'p1')).toEqual({ id: 'p1', username: 'u-p1', level: 99 });
    // B's copy goes when it next reads the log bus (at most every coherence.pollInterval).
    const seen = await waitFor('B reads level 99', async () => (await request(b, 'p1')).level === 99, 5_000);
    expect(seen).toBe(true);
    expect(b.stats().invalidationsApplied).toBeGreaterThanOrEqual(before.bBus + 1);
    expect(a.stats().errors + b.stats().errors).toBe(0);
  });

  it('polls riding on calls, waited for with settled(), apply an outside write without relayChanges', async () => {
    await cachedInBoth('p2');
    const before = { applied: a.stats().capture.changesApplied, polls: a.stats().capture.relay?.polls ?? 0 };

    await outsideUpdate('p2', 99);
    // Each call starts a poll in the background once the interval has passed; the first call
    // after the write may still answer from L1, a later one finds it gone.
    const seen = await waitFor('A reads level 99', async () => (await request(a, 'p2')).level === 99, 5_000);
    expect(seen).toBe(true);
    const capture = a.stats().capture;
    expect(capture.changesApplied).toBeGreaterThanOrEqual(before.applied + 1);
    expect(capture.relay?.polls).toBeGreaterThan(before.polls);

    const seenByB = await waitFor(
      'B reads level 99',
      async () => (await request(b, 'p2')).level === 99,
      5_000,
    );
    expect(seenByB).toBe(true);
    expect(await b.get(players, 'p2')).toEqual({ id: 'p2', username: 'u-p2', level: 99 });
    expect(a.stats().errors + b.stats().errors).toBe(0);
  });

  it('a cached search an outside insert and delete change is not served after the relay, on either isolate', async () => {
    await a.set(players, { id: 's1', username: 'u-s1', level: 500 });
    await a.set(players, { id: 's2', username: 'u-s2', level: 400 });
    const top = Q().where('level >= $1', 400).orderBy('level').desc().build();
    const ids = async (strata: Strata) => {
      const rows = await strata.searchCached(players, top);
      await strata.settled();
      return rows.map((row) => row.id);
    };
    for (const strata of [a, b]) {
      expect(await ids(strata)).toEqual(['s1', 's2']);
      expect(await ids(strata)).toEqual(['s1', 's2']); // now from the cached list
    }

    // Made with plain SQL: an insert that enters the top, a delete that leaves it.
    await sql.query(`insert into "${tableName}" (id, username, level) values ('s3', 'u-s3', 450)`);
    await sql.query(`delete from "${tableName}" where id = 's2'`);
    expect(await a.relayChanges()).toMatchObject({ status: 'applied', gap: false });

    for (const strata of [a, b]) {
      const seen = await waitFor(
        'the new top',
        async () => (await ids(strata)).join() === ['s1', 's3'].join(),
        5_000,
      );
      expect(seen).toBe(true);
    }
    expect(a.stats().errors + b.stats().errors).toBe(0);
  });

  it('two isolates polling at once: one holds the lease and applies, the other is told busy', async () => {
    await cachedInBoth('p3');
    await outsideUpdate('p3', 100);

    const outcomes = await Promise.all([a.relayChanges(), b.relayChanges()]);
    const applied = outcomes.filter((o) => o?.status === 'applied');
    expect(applied).toHaveLength(1);
    expect(applied[0]?.status === 'applied' && applied[0].changes).toBeGreaterThanOrEqual(1);
    expect(outcomes.filter((o) => o?.status === 'busy')).toHaveLength(1);

    for (const strata of [a, b]) {
      const seen = await waitFor('level 100', async () => (await request(strata, 'p3')).level === 100, 5_000);
      expect(seen).toBe(true);
    }
    expect(a.stats().errors + b.stats().errors).toBe(0);
  });
});
