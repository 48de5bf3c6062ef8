import { testDevstack } from '@strata/devstack/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { createMemoryQueue, defineSchema, Q, Strata, type StrataConfig } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

/**
 * Round trips per public operation, exactly: HTTP requests to the Upstash endpoint, HTTP requests to
 * the Neon endpoint, and the SQL statements those requests carry (a neon-http batch is one request
 * with several statements). L3 runs over neon-http, as in a Worker. A manual clock holds time still,
 * so the schema's L2 generation (re-read at most every 5 s) never adds a request mid-count. The same
 * table is printed by `npm run bench` (bench/suites/round-trips.mjs).
 *
 * The counts are of operations that succeed at every tier. A tolerated failure is not just one
 * operation's problem: an L2 write that times out (setMany(10000)'s one script took over the default
 * 1 s on a loaded machine) makes the generation move on before L2's next use — one more request in
 * the NEXT operation — and the other instances, still on the old generation, have their next write
 * refused and sent again. So the deadlines here are far above any load, and an operation that counts
 * a tier error fails the test as such, not as a puzzling count further down.
 */
type Trips = [upstash: number, neonRequests: number, sqlStatements: number];

const EXPECTED: Record<string, Trips> = {
  'get, L1 hit': [0, 0, 0],
  'get, L2 hit (L1 miss)': [1, 0, 0],
  'get, L3 hit (cold)': [2, 1, 1], // EVAL_RO miss, select, one pipelined SET filling L2
  'find, absent everywhere': [1, 1, 1], // no negative cache by default: nothing to fill
  'exists, L1 hit': [0, 0, 0],
  'exists, cold': [1, 1, 1],
  'getMany(1), L1 hits': [0, 0, 0],
  'getMany(10), L1 hits': [0, 0, 0],
  'getMany(100), L1 hits': [0, 0, 0],
  'getMany(1), L2 hits': [1, 0, 0],
  'getMany(10), L2 hits': [1, 0, 0],
  'getMany(100), L2 hits': [1, 0, 0],
  'getMany(1), cold': [2, 1, 1],
  'getMany(10), cold': [2, 1, 1],
  'getMany(100), cold': [2, 1, 1],
  'set (write-through)': [1, 1, 1], // one statement (row + its version); one L2 script (row + search generation)
  'setMany(10)': [1, 1, 1],
  'setMany(100)': [1, 1, 1],
  'setMany(1000)': [1, 1, 1],
  'setMany(10000)': [1, 1, 1],
  delete: [1, 1, 1],
  'deleteMany(10)': [1, 1, 1],
  'deleteMany(100)': [1, 1, 1],
  search: [0, 1, 1], // queries L3; L1 holds every row found at its version, so L2 is not written again
  'searchCached, cold': [2, 1, 1],
  'searchCached, warm': [1, 0, 0],
  count: [0, 1, 1],
  'tx: 2 sets + 1 delete, commit': [1, 1, 3], // one neon-http batch: the versions, the upsert, the delete; one L2 script
  invalidate: [1, 0, 0],
  'warmCache(100)': [1, 1, 1],
  invalidateAll: [1, 0, 0], // one INCR of the generation, no SCAN
  'set (write-behind)': [2, 0, 0], // a row that leaves columns out: its key's row read from L2 (here its queued write), then one script; L3 at the flush
  'set (write-behind, whole row)': [1, 0, 0], // L2 now (one script: version + row); L3 at the flush (the memory queue makes no request)
  // Once per app (no instance of it holds a write-behind claim of the table): its table claimed
  // (held write-through until now, so a new claim: the counter seeded from a Postgres epoch, then the
  // claim marked seeded), the key's row read (L2, then Postgres: none), the generation (the first
  // script's reply), written; then the claim shared with the app's other instances (one SET, off the
  // write's path: 4/4/4 before claims were shared). Beside the claim, in parallel with it, Postgres'
  // mark of the counter (a Redis restored from an older snapshot: see engine/counter-marks.ts; none
  // yet, so the counter is not read); the seed marks the new epoch (5/4/4 before the marks).
  'first write-behind set of a schema': [5, 6, 6],
  // A new instance of an app another instance of which holds the claim (its generation read, made
  // before, found it shared): no Postgres (was 1/1/1: its claim in Postgres, then the script). A cold
  // instance adds its first generation read (which brings the shared claim) and its L3 identity
  // question, as its first operation of any kind would. Its counter is checked against Postgres'
  // mark (the mark, then the counter's value): the shared claim comes back with a
  // Redis restored from an older snapshot, and only Postgres tells (1/0/0 before the marks).
  'first write-behind set of an instance, the claim shared': [2, 1, 1],
  // One request beside the counter's mark raised to the batch's versions; the rows as applied into
  // L2 in one script (1/1/1 before the marks). The 100 sets leave columns out: 99 are new keys, queued
  // with only their sent columns (a write of the key reserved earlier may land before the flush:
  // regression-partial-over-held-tx), so they go as a partial group (its version check, then its
  // rows), and b2 (stored whole) as a merged row: 3 statements in that request (2/2 before it).
  // Plus, first, a generation read (the instance holds unflushed writes of its own): a Redis that
  // lost its data, queue included, is found before the drain, which would else find the queue empty
  // and return with those writes nowhere (regression-flush-after-data-loss; 1/2/4 before it).
  'flushDirty (100 queued sets)': [2, 2, 4],
  stats: [0, 0, 0],
};

describe('round trips per public operation (Upstash HTTP, Neon HTTP, SQL statements)', () => {
  let stack: EngineStack;
  let restoreFetch: () => void;
  const neon = { requests: 0, statements: 0 };
  const measured: Record<string, Trips> = {};
  /** What each operation sent to Upstash, to read when a count is off. */
  const commands: Record<string, string[]> = {};
  /** Operations during which a tier error was counted (tolerated ones too): the errors so far, by source. */
  const errors: Record<string, Record<string, number>> = {};

  beforeAll(async () => {
    stack = await engineStack('round_trips', 'neon-http');
    // engineStack counts Upstash requests; count Neon requests and the statements they carry here.
    const { httpUrl } = testDevstack().neon;
    const inner = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url.startsWith(httpUrl)) {
        neon.requests += 1;
        const body = JSON.parse(typeof init?.body === 'string' ? init.body : '{}') as { queries?: unknown[] };
        neon.statements += Array.isArray(body.queries) ? body.queries.length : 1;
      }
      return inner(input, init);
    };
    restoreFetch = () => {
      globalThis.fetch = inner;
    };
  });
  afterAll(async () => {
    restoreFetch?.();
    await stack?.cleanup();
  });

  it('matches the table, and getMany / setMany / deleteMany cost the same whatever N', async () => {
    const { players } = stack.tables;
    const clock = manualClock();
    const make = (extra: Partial<StrataConfig> = {}, schemaExtra: object = {}) => {
      const schema = defineSchema({ table: players, ...schemaExtra });
      const strata = new Strata({
        l2: stack.l2,
        l3: stack.l3,
        keyPrefix: stack.keyPrefix,
        clock,
        l1: { maxEntries: 100_000 },
        // Round trips, not latency: no deadline may cut a slow call short (see above).
        timeouts: { l2: '2m', l3: '2m' },
        schemas: [schema],
        ...extra,
      });
      return { strata, schema };
    };
    const a = make();
    const b = make(); // another instance: empty L1, same L2 and L3
    const c = make();
    // Its own schema name (own L2 keys, under the key root that cleanup removes), same table.
    const wb = make(
      { writeBehind: { queue: createMemoryQueue(), threshold: 1_000_000 } },
      { name: 'players_wb', writeMode: 'write-behind' },
    );
    // Another instance of wb's app: its first write finds wb's claim shared.
    const wb2 = make(
      { writeBehind: { queue: createMemoryQueue(), threshold: 1_000_000 } },
      { name: 'players_wb', writeMode: 'write-behind' },
    );
    const { strata, schema } = a;
    await strata.migrate();
    const row = (prefix: string, i: number) => ({
      id: `${prefix}${i}`,
      username: `${prefix}u${i}`,
      level: i % 50,
    });
    const rows = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => row(prefix, i));
    const ids = (prefix: string, n: number, from = 0) =>
      Array.from({ length: n }, (_, i) => `${prefix}${from + i}`);

    // State first, nothing counted: 300 cached rows, cold rows only in Postgres, warm generations.
    await strata.setMany(schema, rows('w', 300));
    await stack.db.insert(players).values([...rows('c', 2), ...rows('m', 111), row('e', 0)]);
    for (const s of [a, b, c, wb]) await s.strata.exists(s.schema, 'warm-the-generation');
    const q = Q().where('level > $1', 10).orderBy('level').desc().limit(20).build();

    const instances = [a, b, c, wb, wb2].map((s) => s.strata);
    const errorCount = () => instances.reduce((n, s) => n + s.stats().errors, 0);
    const count = async (op: string, fn: () => Promise<unknown>) => {
      // Nothing of the previous operation may land in this one's window (deferred work is awaited
      // by default: this only keeps it so if that default changes).
      await Promise.all(instances.map((s) => s.settled()));
      const errorsBefore = errorCount();
      stack.reset();
      neon.requests = 0;
      neon.statements = 0;
      await fn();
      await Promise.all(instances.map((s) => s.settled()));
      measured[op] = [stack.l2Requests.length, neon.requests, neon.statements];
      commands[op] = [...stack.l2Commands];
      if (errorCount() !== errorsBefore) {
        errors[op] = {};
        for (const [source, n] of instances.flatMap((s) => Object.entries(s.stats().errorsBy)))
          errors[op][source] = (errors[op][source] ?? 0) + n;
      }
    };
    await count('get, L1 hit', () => strata.get(schema, 'w1'));
    await count('get, L2 hit (L1 miss)', () => b.strata.get(b.schema, 'w2'));
    await count('get, L3 hit (cold)', () => strata.get(schema, 'c0'));
    await count('find, absent everywhere', () => strata.find(schema, 'nope'));
    await count('exists, L1 hit', () => strata.exists(schema, 'w3'));
    await count('exists, cold', () => c.strata.exists(c.schema, 'e0'));
    for (const n of [1, 10, 100])
      await count(`getMany(${n}), L1 hits`, () => strata.getMany(schema, ids('w', n)));
    // b has read none of w100..w299: every batch below is all L2 hits; m0..m110 are cold.
    for (const [n, from] of [
      [1, 100],
      [10, 110],
      [100, 200],
    ] as const) {
      await count(`getMany(${n}), L2 hits`, () => b.strata.getMany(b.schema, ids('w', n, from)));
    }
    for (const [n, from] of [
      [1, 0],
      [10, 1],
      [100, 11],
    ] as const) {
      await count(`getMany(${n}), cold`, () => strata.getMany(schema, ids('m', n, from)));
    }
    await count('set (write-through)', () => strata.set(schema, row('s', 0)));
    // 10,000 rows are past one VALUES statement's 65,535 parameters: still one statement.
    for (const n of [10, 100, 1000, 10_000])
      await count(`setMany(${n})`, () => strata.setMany(schema, rows(`sm${n}x`, n)));
    await count('delete', () => strata.delete(schema, 's0'));
    await count('deleteMany(10)', () => strata.deleteMany(schema, ids('sm100x', 10)));
    await count('deleteMany(100)', () => strata.deleteMany(schema, ids('sm1000x', 100)));
    await count('search', () => strata.search(schema, q));
    await count('searchCached, cold', () => strata.searchCached(schema, q));
    await count('searchCached, warm', () => b.strata.searchCached(b.schema, q));
    await count('count', () => strata.count(schema, q));
    await count('tx: 2 sets + 1 delete, commit', () =>
      strata.tx().set(schema, row('t', 0)).set(schema, row('t', 1)).delete(schema, 'w99').commit(),
    );
    await count('invalidate', () => strata.invalidate(schema, 'w5'));
    await count('warmCache(100)', () => c.strata.warmCache(c.schema, 100));
    await count('invalidateAll', () => strata.invalidateAll(schema));
    await count('first write-behind set of a schema', () => wb.strata.set(wb.schema, row('b', 0)));
    await count('set (write-behind)', () => wb.strata.set(wb.schema, row('b', 0)));
    const whole = {
      ...row('b', 0),
      xp: 1n,
      score: 1.5,
      active: true,
      createdAt: new Date(0),
      updatedAt: null,
      profile: null,
      avatar: null,
      apiKey: null,
      passwordHash: null,
      notes: null,
    };
    await count('set (write-behind, whole row)', () => wb.strata.set(wb.schema, whole));
    await wb2.strata.exists(wb2.schema, 'warm-the-generation');
    await count('first write-behind set of an instance, the claim shared', () =>
      wb2.strata.set(wb2.schema, { ...whole, id: 'b2' }),
    );
    for (let i = 0; i < 100; i++) await wb.strata.set(wb.schema, row('b', i));
    await count('flushDirty (100 queued sets)', () => wb.strata.flushDirty());
    await count('stats', async () => strata.stats());
    for (const s of [a, b, c, wb, wb2]) await s.strata.close();

    expect(errors, 'tier errors during counted operations').toEqual({});
    const off = Object.keys(EXPECTED).filter((op) => String(measured[op]) !== String(EXPECTED[op]));
    const sent = off.map((op) => `${op}: ${commands[op]?.join(' | ') || '(none)'}`).join('\n');
    expect(measured, `Upstash requests of the operations off the table:\n${sent}`).toEqual(EXPECTED);
    // Batches: the same round trips for every N, per tier.
    for (const family of ['L1 hits', 'L2 hits', 'cold']) {
      const costs = [1, 10, 100].map((n) => measured[`getMany(${n}), ${family}`]);
      expect(new Set(costs.map(String)).size, `getMany ${family}`).toBe(1);
    }
    expect(new Set([10, 100, 1000, 10_000].map((n) => String(measured[`setMany(${n})`]))).size).toBe(1);
    expect(measured['deleteMany(10)']).toEqual(measured['deleteMany(100)']);
  });
});
