import { lapseWriterClaims, serviceUrls } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/index.js';
import {
  clusterBuckets,
  createMemoryQueue,
  defineSchema,
  type L2Tier,
  Strata,
  type StrataError,
} from '../src/index.js';
import { countingL2, strataRejection } from '../testing/l2-helpers.js';
import { deferred } from './support/deferred.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Two apps on one Redis and one keyPrefix, each on its own database, with the same table: a row's
// L2 key names its table, not its database, so without the claim the second app would serve the
// first one's rows. The second database is this file's own (created and dropped here).

let stack: EngineStack;
let otherDb: string;
let otherPool: pg.Pool;
let other: ReturnType<typeof drizzle>;

beforeAll(async () => {
  stack = await engineStack('l3claim');
  otherDb = `${stack.name}_b`;
  await stack.pool.query(`create database "${otherDb}"`);
  const url = new URL(serviceUrls().databaseUrl);
  url.pathname = `/${otherDb}`;
  otherPool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  otherPool.on('error', () => {});
  other = drizzle(otherPool);
});

afterAll(async () => {
  await otherPool?.end();
  if (otherDb) await stack.pool.query(`drop database if exists "${otherDb}" with (force)`);
  await stack.cleanup();
});

const made = new Map<string, ReturnType<typeof defineSchema>>();
/** One schema per write mode (a Strata looks schemas up by the object it was given). */
const schemaOf = (writeMode: 'write-through' | 'write-behind' = 'write-through') => {
  if (!made.has(writeMode))
    made.set(writeMode, defineSchema({ table: stack.tables.players, l1: false, writeMode }));
  return made.get(writeMode)!;
};

/**
 * An app over database `a` (the suite's) or `b` (this file's own), its warnings kept. Options: its
 * keyPrefix (default the suite's), its L2 (default the suite's) and L3 (default a Drizzle L3 over its
 * database), and its one schema (default `schemaOf(writeMode)`).
 */
function app(
  db: 'a' | 'b',
  options: {
    keyPrefix?: string;
    l2?: L2Tier;
    l3?: ReturnType<typeof createDrizzleL3>;
    writeMode?: 'write-through' | 'write-behind';
    schema?: ReturnType<typeof defineSchema>;
    /** L2 split into this many buckets (`clusterBuckets`; on one Redis here). */
    buckets?: number;
    /** 'default': no `logger` option (Strata's own default logs; `warnings` stays empty). */
    logger?: 'default';
  } = {},
) {
  const warnings: string[] = [];
  const keep = (message: string, fields?: Record<string, unknown>) =>
    void warnings.push(`${message} ${JSON.stringify(fields ?? {})}`);
  const strata = new Strata({
    l2: options.l2 ?? stack.l2,
    l3: options.l3 ?? (db === 'a' ? stack.l3 : createDrizzleL3(other, { migrationsSchema: stack.name })),
    keyPrefix: options.keyPrefix ?? stack.keyPrefix,
    schemas: [options.schema ?? schemaOf(options.writeMode)],
    writeBehind: { queue: createMemoryQueue() },
    ...(options.buckets && { buckets: options.buckets, bucketing: clusterBuckets }),
    ...(options.logger !== 'default' && {
      logger: { debug: () => {}, info: () => {}, warn: keep, error: keep },
    }),
  });
  return { strata, warnings };
}

/**
 * A Drizzle L3 over database b whose identity answer waits for `name()`; the question fails at once
 * while `fails()` says so.
 */
function slowIdentityL3(fails = () => false) {
  const l3 = createDrizzleL3(other, { migrationsSchema: stack.name });
  const identity = l3.identity!.bind(l3);
  const named = deferred<void>();
  l3.identity = async () => {
    if (fails()) throw new Error('identity question cut');
    await named.promise;
    return identity();
  };
  return { l3, name: () => named.resolve() };
}

const row = (username: string) => ({
  id: 'p1',
  username,
  level: 1,
  xp: 0n,
  score: 0,
  active: true,
  createdAt: new Date('2026-01-01T00:00:00Z'),
});

it("an app on another database is refused L2 under the same keyPrefix: it never serves the first app's rows", async () => {
  const a = app('a');
  const b = app('b');
  await a.strata.migrate();
  await b.strata.migrate();
  const players = schemaOf();
  await a.strata.set(players, row('from-a'));
  await other.execute(
    sql.raw(
      `insert into "${stack.name}"."players" (id, username, level, xp, score, active, created_at) values ('p1', 'from-b', 1, 0, 0, true, '2026-01-01')`,
    ),
  );
  // Without the claim this read was an L2 hit on app a's row.
  expect((await b.strata.get(players, 'p1')).username).toBe('from-b');
  expect(b.warnings.join('\n')).toMatch(/INVALID_CONFIG|belongs to an app on another database/);
  expect(b.strata.stats().errorsBy.l2).toBeGreaterThan(0);
  // Its writes commit to its own database and leave app a's L2 row alone.
  await b.strata.set(players, row('b-wrote'));
  expect((await a.strata.get(players, 'p1')).username).toBe('from-a');
  expect((await b.strata.get(players, 'p1')).username).toBe('b-wrote');
  const claim = await stack.redis.get(`${stack.keyPrefix}:l3`);
  expect(claim).toMatch(/^pg:\d+\/test$/);
  await a.strata.close();
  await b.strata.close();
});

it('with no logger given, the refusal is said on the console, once however many reads meet it', async () => {
  const said = vi.spyOn(console, 'warn').mockImplementation(() => {});
  const a = app('a');
  const b = app('b', { logger: 'default' });
  try {
    await a.strata.migrate();
    await b.strata.migrate();
    const players = schemaOf();
    await a.strata.set(players, row('from-a'));
    await b.strata.set(players, row('from-b'));
    for (let i = 0; i < 3; i++) expect((await b.strata.get(players, 'p1')).username).toBe('from-b');
    await b.strata.close();
    const refusals = said.mock.calls.filter((call) =>
      /belongs to an app on another database/.test(JSON.stringify(call)),
    );
    expect(refusals).toHaveLength(1);
    expect(String(refusals[0]![0])).toMatch(/^strata warn: l2 \w+ failed; continuing without it$/);
    expect(refusals[0]![1]).toMatchObject({ code: 'INVALID_CONFIG' });
  } finally {
    await a.strata.close();
    await b.strata.close();
    said.mockRestore();
  }
});

it('on its own keyPrefix the same app uses L2 as usual; the claim names its database', async () => {
  const b = app('b', { keyPrefix: `${stack.keyPrefix}own` });
  await b.strata.migrate(); // learns which database it is: the first L2 read is checked
  const players = schemaOf();
  await b.strata.set(players, row('own'));
  stack.reset();
  expect((await b.strata.get(players, 'p1')).username).toBe('own');
  expect(stack.statementsOn('players')).toEqual([]);
  expect(b.warnings).toEqual([]);
  expect(await stack.redis.get(`${stack.keyPrefix}own:l3`)).toBe(
    `${(await stack.redis.get(`${stack.keyPrefix}:l3`))!.split('/')[0]}/${otherDb}`,
  );
  await b.strata.close();
});

it('write-behind, which needs L2 to order writes, is refused with the claim as the cause', async () => {
  // The earlier tests' apps on database b (another keyPrefix among them) are done with its table.
  await lapseWriterClaims(otherPool, stack.name);
  const { strata: b } = app('b', { writeMode: 'write-behind' });
  await b.migrate();
  const error = await strataRejection(b.set(schemaOf('write-behind'), row('wb')));
  expect(error.code).toBe('L2_UNAVAILABLE');
  expect(String((error.cause as Error | undefined)?.message)).toMatch(
    /belongs to an app on another database/,
  );
  await b.close();
  await lapseWriterClaims(otherPool, stack.name); // its claim too: the next tests are other apps
});

it('an L3 slow to say which database it is: reads take L2 unchecked past 200 ms (L1 keeps none of it), then the check refuses', async () => {
  // The real L3, its identity answer held back past the budget.
  const slow = slowIdentityL3();
  const { strata: b, warnings } = app('b', { l3: slow.l3 });
  const players = schemaOf();
  // App a's L2 copy: past 200 ms a read takes L2 unchecked, as cached reads answer through a slow
  // Postgres (logged). Writes would wait for the check (regression-identity-cold-start.test.ts).
  const unchecked = (await b.get(players, 'p1')).username;
  expect(warnings.join('\n')).toMatch(/keyPrefix '.*' is not checked yet/);
  slow.name();
  await b.migrate(); // waits for the identity question asked above to be answered
  // The next read checks the claim first: refused (app a holds the keyPrefix), and what the
  // unchecked read found was never kept in L1: its own row.
  expect((await b.get(players, 'p1')).username).toBe('own');
  expect(warnings.join('\n')).toMatch(/belongs to an app on another database/);
  expect(unchecked).not.toBe('own');
  await b.close();
});

it('a move (invalidateAll) before L3 has said which database it is waits for the check, sending nothing to L2 meanwhile; refused when L3 never says', async () => {
  let fails = false;
  const slow = slowIdentityL3(() => fails);
  const counted = countingL2(stack.l2);
  const players = defineSchema({ table: stack.tables.players, l1: false });
  const b = new Strata({
    l2: counted.tier,
    l3: slow.l3,
    keyPrefix: `${stack.keyPrefix}-move`,
    schemas: [players],
    logger: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
  const moved = b.invalidateAll(players).then(
    () => 'moved',
    (err: StrataError) => err.code,
  );
  // Past the 200 ms a read waits for the identity: a move never goes unchecked.
  await new Promise((resolve) => setTimeout(resolve, 400));
  // Before: 110 generation reads in those 400 ms (the move took an unchecked read for the check).
  expect(counted.ran).toEqual([]);
  slow.name();
  expect(await moved).toBe('moved');
  expect(counted.ran).toEqual(['generation', 'next-generation']);
  await b.close();

  fails = true;
  const cold = new Strata({
    l2: countingL2(stack.l2).tier,
    l3: slow.l3,
    keyPrefix: `${stack.keyPrefix}-move`,
    schemas: [players],
    timeouts: { l3: '300ms' },
    logger: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
  expect((await strataRejection(cold.invalidateAll(players))).code).toBe('L3_UNAVAILABLE');
  await cold.close();
});

// Why SchemaGeneration's `onForeign` stays (schema-cache.ts): `offerL1` declines only while reads are
// unchecked, and the read that finds the conflict ends that. Without its `inflight.clear()`: "a read
// made after the conflict was found: expected 'a-f2' to be 'b-f2'"; without its `clears += 1`: "L1
// kept none of the unchecked read's rows: expected 'a-f1' to be 'b-f1'".
it('a conflict found while an unchecked L2 read is out: no later read joins that read, and L1 keeps none of its rows', async () => {
  const a = app('a');
  for (const id of ['f1', 'f2']) await a.strata.set(schemaOf(), { ...row(`a-${id}`), id });
  await other.execute(
    sql.raw(
      `insert into "${stack.name}"."players" (id, username, level, xp, score, active, created_at) values ('f1', 'b-f1', 1, 0, 0, true, '2026-01-01'), ('f2', 'b-f2', 1, 0, 0, true, '2026-01-01')`,
    ),
  );
  const slow = slowIdentityL3();
  // The real tier, its next MGET held until `release` (the unchecked read's rows, out meanwhile).
  const sent = deferred<void>();
  const release = deferred<void>();
  let hold = true;
  const held: L2Tier = {
    name: stack.l2.name,
    getMany: (keys) => {
      if (!hold) return stack.l2.getMany(keys);
      hold = false;
      sent.resolve();
      return release.promise.then(() => stack.l2.getMany(keys));
    },
    run: (...call) => stack.l2.run(...call),
    close: () => stack.l2.close(),
  };
  const players = defineSchema({ table: stack.tables.players }); // with L1
  const { strata: b, warnings } = app('b', { l2: held, l3: slow.l3, schema: players });
  const unchecked = b.getMany(players, ['f1', 'f2']); // past 200 ms: L2 unchecked, its MGET held
  await sent.promise;
  slow.name();
  await b.migrate();
  expect(await b.find(players, 'f3')).toBeNull(); // checks the claim: app a's (another database)
  expect(warnings.join('\n')).toMatch(/belongs to an app on another database/);
  const joined = b.get(players, 'f2');
  release.resolve();
  expect((await unchecked).map((r) => r?.username)).toEqual(['a-f1', 'a-f2']);
  expect((await joined).username, 'a read made after the conflict was found').toBe('b-f2');
  expect((await b.get(players, 'f1')).username, "L1 kept none of the unchecked read's rows").toBe('b-f1');
  await a.strata.close();
  await b.close();
});

// Each bucket has its own claim key (`{prefix#b}:l3`) and its own check (`SchemaGeneration`): a row
// of bucket 1 read unchecked says nothing of bucket 0, never read. `offerL1` asked bucket 0's
// generation only: "L1 kept none of the unchecked read's rows: expected 'a-…' to be 'b-…'".
it('over buckets: a row read unchecked from bucket 1, bucket 0 never read: L1 keeps none of it', async () => {
  const players = defineSchema({ table: stack.tables.players }); // with L1
  const keyPrefix = `${stack.keyPrefix}bk`;
  const a = app('a', { schema: players, buckets: 2, keyPrefix });
  const ids = Array.from({ length: 8 }, (_, i) => `bk${i}`);
  for (const id of ids) await a.strata.set(players, { ...row(`a-${id}`), id });
  const inOne = (await stack.redis.keys(`{${keyPrefix}#1}:*`)).flatMap((k) =>
    ids.filter((id) => k.endsWith(`:r:${id}`)),
  );
  const id = inOne[0]!;
  expect(id, 'an id in bucket 1').toBeDefined();
  await other.execute(
    sql.raw(
      `insert into "${stack.name}"."players" (id, username, level, xp, score, active, created_at) values ('${id}', 'b-${id}', 1, 0, 0, true, '2026-01-01')`,
    ),
  );
  const slow = slowIdentityL3();
  const { strata: b, warnings } = app('b', { l3: slow.l3, schema: players, buckets: 2, keyPrefix });
  // Past 200 ms: bucket 1's L2 unchecked (app a's row), bucket 0's generation never read.
  expect((await b.get(players, id)).username).toBe(`a-${id}`);
  slow.name();
  await b.migrate(); // the identity answered: the next read of bucket 1 checks its claim
  expect((await b.get(players, id)).username, "L1 kept none of the unchecked read's rows").toBe(`b-${id}`);
  expect(warnings.join('\n')).toMatch(/belongs to an app on another database/);
  await a.strata.close();
  await b.close();
  await stack.redis.del(...(await stack.redis.keys(`{${keyPrefix}#*`)));
});
