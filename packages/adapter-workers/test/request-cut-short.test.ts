/**
 * Work one Worker request starts and leaves running (it answers without waiting) is cut short by
 * workerd when that request ends: its fetches never settle, its timers never fire. A later request
 * in the same isolate, sharing the module-scope Strata, must still answer within its deadline and
 * correctly. Each request here is a real Worker request (`exports.default.fetch`, see
 * fixtures/request-app.ts); the cut-short fetch is held forever (global fetch wrapped), as a
 * cancelled one is.
 */
import { env } from 'cloudflare:workers';
import { neon, neonConfig } from '@neondatabase/serverless';
import { defineSchema, type Strata } from '@strata/core';
import { drizzleMigrate } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStrata } from '../src/index.js';
import { installRequestApp } from './fixtures/request-app.js';
import { failWith, holdNext, request, wrapFetch } from './support/cut-short.js';
import { upstashCommand } from './support/upstash-rest.js';

neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT;
const sql = neon(env.DATABASE_URL);
const tableName = uniqueName('cut_items');
const keyPrefix = uniqueName('cut');
const items = defineSchema({
  table: pgTable(tableName, {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    level: integer('level').notNull().default(1),
  }),
  l1: { ttl: '10m' },
  l2: { ttl: '10m' },
});
/** Written by one test only: no instance holds its writer claim before that test's first write. */
const claimedTable = uniqueName('cut_claimed');
const claimed = defineSchema({
  table: pgTable(claimedTable, {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
  }),
  l1: { ttl: '10m' },
  l2: { ttl: '10m' },
});
/** Tags its rows: the instance's tag clock is read before the first read of it. */
const taggedTable = uniqueName('cut_tagged');
const tagged = defineSchema({
  table: pgTable(taggedTable, {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
  }),
  tags: (row) => [`name:${row.name}`],
  l1: { ttl: '10m' },
  l2: { ttl: '10m' },
});
const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const built: Strata[] = [];
/** The Strata the requests share, as a Worker's module scope holds it. */
let strata: Strata | undefined;

function isolate(): Strata {
  const s = createStrata(
    { ...env },
    {
      schemas: [items, claimed, tagged],
      keyPrefix,
      drizzleMigrate,
      coherence: { pollInterval: 50 },
      timeouts: { l2: 300, l3: 1_000 },
    },
  );
  built.push(s);
  return s;
}

/** The schema a request names (`table=tagged`), else `items`. */
const readOf = (table: string | null) => (table === 'tagged' ? tagged : items);
const answer = async (id: string, table: string | null) =>
  Response.json({ name: (await strata!.find(readOf(table), id))?.name ?? null });
/** `/lead?id=`: starts a find of `id`, answers once its fetch is held, without waiting for it. */
async function lead(id: string, text: string, table: string | null): Promise<Response> {
  const held = holdNext(text);
  void strata!.find(readOf(table), id).catch(() => {});
  await held;
  return Response.json('left running');
}

/** `/lead-write?id=&name=&hold=`: starts a set of `claimed`, answers once its fetch is held, without waiting for it. */
async function leadWrite(id: string, name: string, text: string): Promise<Response> {
  const held = holdNext(text);
  void strata!.set(claimed, { id, name }).catch(() => {});
  await held;
  return Response.json('left running');
}

/**
 * `/write?id=&name=`: a set whose publish (the log bus's XADD, deferred; `hold=none`: nothing held)
 * is cut short with the request; `fail=`: its L2 requests with that text fail (L2 missed the write).
 */
async function write(
  id: string,
  name: string,
  hold: string,
  table: string | null,
  fail: string | null,
): Promise<Response> {
  const held = hold === 'none' ? undefined : holdNext(hold);
  failWith(fail ?? undefined);
  await strata!.set(table === 'claimed' ? claimed : items, { id, name });
  failWith(undefined);
  await held;
  return Response.json('written');
}

let uninstall: () => void;
let unwrap: () => void;
beforeAll(async () => {
  await isolate().migrate();
  unwrap = wrapFetch();
  uninstall = installRequestApp(async (request) => {
    const url = new URL(request.url);
    const id = url.searchParams.get('id') ?? '';
    strata ??= isolate(); // built by the first request, as `??=` at a Worker's module scope does
    if (url.pathname === '/lead')
      return lead(id, url.searchParams.get('hold') ?? id, url.searchParams.get('table'));
    const name = url.searchParams.get('name') ?? '';
    if (url.pathname === '/lead-write') return leadWrite(id, name, url.searchParams.get('hold') ?? id);
    if (url.pathname === '/write')
      return write(
        id,
        name,
        url.searchParams.get('hold') ?? '["XADD"',
        url.searchParams.get('table'),
        url.searchParams.get('fail'),
      );
    if (url.pathname === '/settled') return Response.json(await strata!.settled().then(() => 'settled'));
    return answer(id, url.searchParams.get('table'));
  });
});
afterAll(async () => {
  uninstall?.();
  unwrap?.();
  // Bounded: an instance may never close, its work held by a fetch that never settles (as cancelled ones).
  for (const s of built) await Promise.race([s.close(), new Promise((r) => setTimeout(r, 2_000))]);
  await sql.query(`drop table if exists "${tableName}"`);
  await sql.query(`drop table if exists "${claimedTable}"`);
  await sql.query(`drop table if exists "${taggedTable}"`);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
});

it('a cold key whose load the first request left running: the next request loads it itself', async () => {
  strata = isolate();
  await sql.query(`insert into "${tableName}" (id, name) values ('c1', 'cold-v1')`);
  expect(await request('/find?id=warm')).toEqual({ name: null }); // subscribed, polled
  expect(await request('/lead?id=c1')).toBe('left running'); // its L2 read held, then cut short
  expect(await request('/find?id=c1')).toEqual({ name: 'cold-v1' });
  expect(await request('/find?id=c1')).toEqual({ name: 'cold-v1' });
});

it("work a request left running when it ended does not hold a later request's settled()", async () => {
  strata = isolate();
  expect(await request('/write?id=w1&name=w-v1')).toBe('written'); // its publish held, then cut short
  expect(await request('/settled')).toBe('settled');
  expect(await request('/find?id=w1')).toEqual({ name: 'w-v1' });
  expect(await sql.query(`select name from "${tableName}" where id = 'w1'`)).toEqual([{ name: 'w-v1' }]);
});

it("the bus subscription and first log read begun by a request that ended: the next request's read answers", async () => {
  strata = undefined; // the first request builds it, subscribes and reads the log, held
  await sql.query(`insert into "${tableName}" (id, name) values ('b1', 'bus-v1')`);
  expect(await request('/lead?id=b1&hold=XINFO')).toBe('left running');
  expect(await request('/find?id=b1')).toEqual({ name: 'bus-v1' });
  expect(await request('/find?id=b1')).toEqual({ name: 'bus-v1' });
});

it("L3's identity question begun by a request that ended: the next request's read answers", async () => {
  strata = undefined; // the first request builds it and asks L3 which database it is, held
  await sql.query(`insert into "${tableName}" (id, name) values ('i1', 'id-v1')`);
  expect(await request('/lead?id=i1&hold=system_identifier')).toBe('left running');
  expect(await request('/find?id=i1')).toEqual({ name: 'id-v1' });
});

// After the identity question was cut short, the second request read L2 unchecked and loaded the
// row from L3; its fill (not waited for) learnt the identity and sent the read that checks the claim,
// the EVALSHA cut short when that request answered. The third request's write waited for that read
// (`#rechecking`, shared unbounded) forever: "expected 'no answer within 4000 ms' to be 'written'".
// Now it is waited for on the caller's own timer, as any generation read out (generation.ts `#shared`).
it('the request after that answers too: the claim check the second request left running is not waited for forever', async () => {
  strata = undefined;
  await sql.query(`insert into "${tableName}" (id, name) values ('j1', 'id-v1')`);
  expect(await request('/lead?id=j1&hold=system_identifier')).toBe('left running');
  expect(await request('/find?id=j1')).toEqual({ name: 'id-v1' });
  expect(await request('/write?id=j2&name=id-v2&hold=none')).toBe('written');
  expect(await request('/find?id=j2')).toEqual({ name: 'id-v2' });
  expect(await sql.query(`select name from "${tableName}" where id = 'j2'`)).toEqual([{ name: 'id-v2' }]);
});

it("a writer claim a request left running when it ended: the next request's write claims again and answers", async () => {
  strata = isolate();
  // Its first write of the table claims it in Postgres (_strata_writers), held, then cut short.
  expect(await request('/lead-write?id=k1&name=k-v1&hold=_strata_writers')).toBe('left running');
  expect(await request('/write?id=k2&name=k-v2&hold=none&table=claimed')).toBe('written');
  expect(await sql.query(`select name from "${claimedTable}" where id = 'k2'`)).toEqual([{ name: 'k-v2' }]);
});

it("a publish cut short with the request that wrote: a later request sends it again, and another isolate's L1 drops the old row", async () => {
  strata = isolate();
  const other = isolate(); // another isolate of the app, its L1 holding the row
  await sql.query(`insert into "${tableName}" (id, name) values ('p1', 'pub-v1')`);
  expect(await request('/find?id=p1')).toEqual({ name: 'pub-v1' });
  expect((await other.find(items, 'p1'))?.name).toBe('pub-v1');
  expect(await request('/write?id=p1&name=pub-v2')).toBe('written'); // its XADD held, then cut short
  expect(await request('/settled')).toBe('settled'); // a later request: what was cut short goes out again
  // The other isolate polls the log before a read (every 50 ms): bounded, no sleep as a sync.
  await expect
    .poll(async () => (await other.find(items, 'p1'))?.name, { timeout: 3_000, interval: 100 })
    .toBe('pub-v2');
});

// A write whose PUT L2 missed is sent again before the bucket's next use (generation.ts `#repair`),
// and every use waited for it, unbounded. The request that sends it here ends with its MARK held:
// the next request's read of a key L1 does not hold waited for it forever ("expected 'no answer
// within 4000 ms' to deeply equal { name: 'rp-v2' }"). Now waited for on the caller's own timer,
// then a hard move: L2's older row of the missed write is never served (another isolate reads it).
it('a missed write sent again by a request that ended: the next request answers, and L2 serves no older row', async () => {
  strata = isolate();
  await sql.query(`insert into "${tableName}" (id, name) values ('rp1', 'rp-v0'), ('rp2', 'rp-v2')`);
  expect(await request('/find?id=rp1')).toEqual({ name: 'rp-v0' }); // L2 holds it
  // Its PUT fails (missed): L2 still holds rp-v0, the write is kept to be sent again.
  expect(await request('/write?id=rp1&name=rp-v1&hold=none&fail="commit"')).toBe('written');
  expect(await request('/settled')).toBe('settled');
  // Its find sends it again (a MARK of rp1's key), held, then cut short.
  expect(await request('/lead?id=other&hold=:r:rp1"')).toBe('left running');
  // A key L1 does not hold: its read needs the generation, which waited for the MARK held.
  expect(await request('/find?id=rp2')).toEqual({ name: 'rp-v2' });
  expect(await request('/find?id=rp1')).toEqual({ name: 'rp-v1' });
  const other = isolate(); // another isolate: L1 empty, it reads what L2 holds
  expect((await other.find(items, 'rp1'))?.name).toBe('rp-v1');
  expect(await sql.query(`select name from "${tableName}" where id = 'rp1'`)).toEqual([{ name: 'rp-v1' }]);
});

// A tagged schema's reads wait for the instance's first read of its tag clock (tag-clock.ts
// `ready`), which the first read sends and every read meanwhile shares, unbounded. Here the request
// that sent it ends with it held, and the next request's read waited for it forever ("expected 'no
// answer within 4000 ms' to deeply equal { name: 'tag-v2' }"). Now shared for an L2 call's deadline
// on the caller's own timer, then read again.
it("the tag clock's first read begun by a request that ended: the next request's read answers", async () => {
  strata = isolate();
  await sql.query(`insert into "${taggedTable}" (id, name) values ('t1', 'tag-v1'), ('t2', 'tag-v2')`);
  expect(await request('/lead?id=t1&table=tagged&hold=:tagclock"')).toBe('left running');
  expect(await request('/find?id=t2&table=tagged')).toEqual({ name: 'tag-v2' });
  expect(await request('/find?id=t1&table=tagged')).toEqual({ name: 'tag-v1' });
});
