import { releaseEndedClients } from '@strata/adapter-node';
import { isStrataError, Q, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf, type FaultScratch, faultScratch, settleBy } from '../support/fault-harness.js';
import { timedOut } from '../support/past-load.js';
import { startTcpProxy, type TcpProxy, type Trap } from '../support/tcp-proxy.js';

// Helper "retry": an L3 read whose Postgres connection is cut (a real TCP reset through the proxy,
// at the read's own statement) failed at once with L3_UNAVAILABLE, although a second connection
// would answer. Before the fix, the first test failed with:
//   get after a cut at its SELECT: expected 'L3_UNAVAILABLE' to be 'OK'
// and the 57P01 one with "expected 'L3_UNAVAILABLE' to be 'OK'", the cut-twice one with "expected 1
// to be 2" (traps fired: no second try), the cut-then-held one with "expected false to be true"
// (it failed at the cut, not at the deadline). The write and statement-error tests passed before
// too: they pin what must not change (node-postgres reports the cut as 'read ECONNRESET').
// Now an idempotent read (findMany, exists, scan, search, count) is tried once more, on the pool's
// next connection, when the failure is a lost connection (engine/read-retry.ts), within the same
// deadline (`timeouts.l3`); writes are never sent twice (their outcome is unknown after a cut).

const L3_TIMEOUT = 1_000;
let store: FaultScratch;
let proxy: TcpProxy;
let strata: Strata;
let pool: pg.Pool;
let warnings: string[];

beforeEach(async () => {
  store = await faultScratch('read_retry');
  warnings = [];
  proxy = await startTcpProxy(Number(new URL(store.databaseUrl).port || 5432));
  // Named, so a test can find its backends in pg_stat_activity.
  pool = new pg.Pool({
    connectionString: proxy.url(store.databaseUrl),
    max: 3,
    application_name: store.name,
  });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  releaseEndedClients(pool);
  // No L2: every read that misses L1 is an L3 read.
  strata = new Strata({
    l3: createDrizzleL3(drizzle(pool), { migrationsSchema: store.name }),
    keyPrefix: store.name,
    timeouts: { l3: L3_TIMEOUT },
    schemas: [store.schema()],
    logger: { debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} },
  });
  // Warm: the writer claim and the identity are read before the traps are armed.
  expect(codeOf(await settleBy(strata.set(store.schema(), { id: 'warm', n: 0 }), 3_000))).toBe('OK');
});
afterEach(async () => {
  await settleBy(strata?.close(), 3_000);
  await proxy?.close();
  await settleBy(pool?.end(), 3_000);
  await store?.cleanup();
});

const text = (b: Buffer) => b.toString('latin1');
/**
 * A trap on the first chunk going up that names `token`. Statements are prepared once per
 * connection: later runs send only their parameters (Bind), so a read or write is known by what it
 * binds (an id; the table's identity `<schema>.items`), not by its SQL text.
 */
const on = (token: string, action: Trap['action'] = 'cut'): Trap => ({
  direction: 'up',
  match: (b) => text(b).includes(token),
  action,
});

/** Rows seeded straight into Postgres (not through the proxy), so no cache holds them. */
async function seed(...rows: [string, number][]) {
  for (const [id, n] of rows)
    await store.pool.query(`insert into "${store.name}".items (id, n) values ($1, $2)`, [id, n]);
}

describe('an L3 read whose connection is cut', () => {
  it('get, getMany, search and count answer from a second connection; the retry is counted', async () => {
    await seed(['r-a', 1], ['r-b', 2], ['r-c', 3]);
    const schema = store.schema();

    const fired = proxy.trap(on('r-a'));
    const got = await settleBy(strata.get(schema, 'r-a'), 3_000);
    expect(await settleBy(fired, 100), 'the cut fired').toEqual({ ok: true, value: undefined });
    expect(codeOf(got), 'get after a cut at its SELECT').toBe('OK');
    expect('ok' in got && got.ok && got.value.n).toBe(1);

    void proxy.trap(on('r-b'));
    const many = await settleBy(strata.getMany(schema, ['r-b', 'r-c']), 3_000);
    expect(codeOf(many), 'getMany').toBe('OK');
    expect('ok' in many && many.ok && many.value.map((r) => r?.n)).toEqual([2, 3]);

    // Reply lost: Postgres ran the SELECT, the answer never came back. Only reads go up now.
    void proxy.trap(on('.items', 'cut-on-reply'));
    const listed = await settleBy(strata.search(schema, Q().build()), 3_000);
    expect(codeOf(listed), 'search').toBe('OK');
    expect('ok' in listed && listed.ok && listed.value.map((r) => r.id).sort()).toEqual([
      'r-a',
      'r-b',
      'r-c',
      'warm',
    ]);

    void proxy.trap(on('count(*)'));
    const counted = await settleBy(strata.count(schema, Q().build()), 3_000);
    expect(codeOf(counted), 'count').toBe('OK');
    expect('ok' in counted && counted.ok && counted.value).toBe(4);

    expect(proxy.stats().trapsFired).toBe(4);
    expect(strata.stats().l3ReadRetries, 'one retry per cut read').toBe(4);
    expect(strata.stats().errorsBy.l3 ?? 0, 'no read failed').toBe(0);
    // Each retry is logged, with the read and what broke (node-postgres: 'read ECONNRESET').
    expect(warnings.filter((w) => /connection lost, retried/.test(w))).toEqual([
      'l3 findMany: connection lost, retried',
      'l3 findMany: connection lost, retried',
      'l3 search: connection lost, retried',
      'l3 count: connection lost, retried',
    ]);
  });

  it('a backend Postgres terminates under the read (57P01, as a failover does) is retried too', async () => {
    await seed(['r-t', 7]);
    // The SELECT is held in the proxy; its backend is terminated meanwhile (FATAL 57P01, then EOF).
    const held = proxy.trap(on('r-t', 'hold'));
    const read = settleBy(strata.get(store.schema(), 'r-t'), 3_000);
    await held;
    const { rows } = await store.pool.query<{ done: boolean }>(
      'select pg_terminate_backend(pid) as done from pg_stat_activity where application_name = $1',
      [store.name],
    );
    expect(rows.length).toBeGreaterThan(0);
    proxy.resume();
    const got = await read;
    expect(codeOf(got)).toBe('OK');
    expect('ok' in got && got.ok && got.value.n).toBe(7);
    expect(strata.stats().l3ReadRetries).toBe(1);
  });

  it('cut twice: L3_UNAVAILABLE within its deadline, after exactly one retry', async () => {
    await seed(['r-a', 1]);
    const armed = [proxy.trap(on('r-a')), proxy.trap(on('r-a')), proxy.trap(on('r-a'))];
    const got = await settleBy(strata.get(store.schema(), 'r-a'), 3_000);
    expect(codeOf(got)).toBe('L3_UNAVAILABLE');
    // Ended by the second cut, not by timeouts.l3 waited out (no wall bound: CI's load stretches it).
    expect(timedOut(got), 'ended by the cut, not the deadline').toBe(false);
    // Two tries, no third: the third trap is still armed.
    expect(proxy.stats().trapsFired).toBe(2);
    expect(strata.stats().l3ReadRetries).toBe(1);
    void armed;
  });

  it('cut, then held: the retry ends at the deadline (one timeouts.l3, not two)', async () => {
    await seed(['r-h', 1]);
    void proxy.trap(on('r-h'));
    void proxy.trap(on('r-h', 'hold'));
    const started = performance.now();
    const got = await settleBy(strata.get(store.schema(), 'r-h'), 3_000);
    const ms = performance.now() - started;
    expect(codeOf(got)).toBe('L3_UNAVAILABLE');
    expect('ok' in got && !got.ok && isStrataError((got.error as Error).cause, 'TIMEOUT')).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(L3_TIMEOUT - 5);
    // The retry's SELECT was still held when the call settled: its own deadline ended it, not
    // Postgres (a wall-clock upper bound here broke under CI's load).
    expect(proxy.queued, 'the retry still held in the proxy').toBeGreaterThan(0);
    expect(strata.stats().l3ReadRetries).toBe(1);
    proxy.cutAll();
  });

  it('a statement error (a column the table lacks: INVALID_MODEL) is not retried', async () => {
    await seed(['r-s', 1]);
    await store.pool.query(`alter table "${store.name}".items drop column label`);
    const got = await settleBy(strata.get(store.schema(), 'r-s'), 3_000);
    expect(codeOf(got)).toBe('INVALID_MODEL');
    expect(strata.stats().l3ReadRetries).toBe(0);
  });
});

describe('a write whose connection is cut', () => {
  it('is not sent again: its statement went up once, the error is L3_UNAVAILABLE', async () => {
    const first = proxy.trap(on('w-cut'));
    const second = proxy.trap(on('w-cut'));
    let again = false;
    void second.then(() => {
      again = true;
    });
    const w = await settleBy(strata.set(store.schema(), { id: 'w-cut', n: 1 }), 3_000);
    expect(await settleBy(first, 100)).toEqual({ ok: true, value: undefined });
    expect(codeOf(w)).toBe('L3_UNAVAILABLE');
    // A retry would have gone up (and been cut by the second trap) before the set settled.
    expect(proxy.stats().trapsFired).toBe(1);
    expect(again).toBe(false);
    expect(strata.stats().l3ReadRetries).toBe(0);
    expect((await store.stored()).has('w-cut')).toBe(false);
  });

  it('reply lost: applied once in Postgres (version 1), not applied again', async () => {
    void proxy.trap(on('w-cut', 'cut-on-reply'));
    const w = await settleBy(strata.set(store.schema(), { id: 'w-cut', n: 1 }), 3_000);
    expect(codeOf(w), 'the outcome is unknown to the caller').toBe('L3_UNAVAILABLE');
    expect(proxy.stats().trapsFired).toBe(1);
    const { rows } = await store.pool.query<{ version: string }>(
      `select version from "${store.name}"._strata_versions where schema = $1 and id = 'w-cut'`,
      [`${store.name}.items`],
    );
    expect(rows.map((r) => Number(r.version))).toEqual([1]);
    expect(strata.stats().l3ReadRetries).toBe(0);
    // The read after it answers what Postgres holds.
    const got = await settleBy(strata.get(store.schema(), 'w-cut'), 3_000);
    expect('ok' in got && got.ok && got.value.n).toBe(1);
  });
});
