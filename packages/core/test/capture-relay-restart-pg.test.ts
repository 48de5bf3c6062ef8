import { testDevstack } from '@strata/devstack/testing';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { PollOutcome } from '../src/capture/relay.js';
import { relayKeys } from '../src/capture/relay-keys.js';
import { defineSchema, type InvalidationBus, Strata } from '../src/index.js';
import { decodeEnvelope } from '../src/l2/envelope.js';
import { createUpstashL2, createUpstashLogBus } from '../src/upstash/index.js';
import { HeldSource, shortLeasePlan } from './support/held-source.js';
import { type EngineStack, engineStack } from './support/stack.js';

/*
 * Two relays of one app (one Redis, one Postgres, the real change log): the one holding the lease
 * is stopped in the middle of a read and abandoned, the other takes over when the lease expires,
 * and the first one's read answers long after. Outside writes go through a plain pg client.
 */
// Short, but long enough for a few statements to run while A holds it on a loaded machine.
const LEASE_MS = 1_000;
const DEADLINE_MS = 10_000;
let stack: EngineStack;
let counters: ReturnType<typeof schema>;
let root = 0;
const buses: InvalidationBus[] = [];
const opened: Strata[] = [];
const schema = () => defineSchema({ table: stack.tables.counters });

beforeAll(async () => {
  stack = await engineStack('relay_restart');
  counters = schema();
  await new Strata({ l3: stack.l3, schemas: [counters] }).migrate({ capture: true });
});
afterAll(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  await Promise.allSettled(buses.map((b) => b.close()));
  await stack?.cleanup(); // the buses' streams live under the stack's name too
});

const outside = (statement: string) => stack.pool.query(statement.replaceAll('counters', table()));
const table = () => `"${stack.name}"."counters"`;

/** A fresh app (key root, bus, 12 rows) whose instances each run a relay with a short lease. */
async function app() {
  const keyPrefix = `${stack.keyPrefix}x${root++}`;
  const { url, token } = testDevstack().upstash!;
  const first = root * 100;
  const ids = Array.from({ length: 12 }, (_, i) => first + i);
  await stack.pool.query(`insert into ${table()} (id, n) select g, 0 from unnest($1::int[]) g`, [ids]);
  const make = (instanceId: string, source = stack.l3.capture!.source()) => {
    const bus = createUpstashLogBus({ url, token, stream: `${keyPrefix}:bus` });
    buses.push(bus);
    const strata = new Strata({
      l2: createUpstashL2({ url, token }),
      l3: stack.l3,
      keyPrefix,
      instanceId,
      schemas: [counters],
      coherence: { bus, pollInterval: 20 },
      ttl: { l1: '10m' },
      capture: { source, relay: shortLeasePlan(LEASE_MS) },
    });
    opened.push(strata);
    return strata;
  };
  const keys = relayKeys(keyPrefix);
  const cursor = async () => BigInt((await stack.redis.get(keys.cursor)) ?? '-1');
  const inRange = `id between ${first} and ${first + 99}`;
  return { keyPrefix, ids, make, keys, cursor, inRange };
}
type App = Awaited<ReturnType<typeof app>>;

/** Postgres as it is: each row of the app with the version `_strata_versions` holds for it. */
async function postgres({ inRange }: App): Promise<Map<number, { n: number; version: number }>> {
  const { rows } = await stack.pool.query(
    `select c.id, c.n, v.version::int as version from ${table()} c
     join "${stack.name}"._strata_versions v on v.schema = $1 and v.id = c.id::text where c.${inRange}`,
    [counters.identity],
  );
  return new Map(rows.map((r) => [Number(r.id), { n: Number(r.n), version: Number(r.version) }]));
}

/** Polls `strata`'s relay until a pass applies (another's lease expires meanwhile), within the deadline. */
async function relayed(strata: Strata): Promise<PollOutcome> {
  const since = Date.now();
  for (;;) {
    const outcome = await strata.relayChanges();
    if (outcome?.status === 'applied') return outcome;
    expect(outcome?.status).toBe('busy');
    if (Date.now() - since > DEADLINE_MS) throw new Error('the lease never came free');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every instance reads every row until its L1 holds it (L2 holds it after the first read). */
async function cacheAll(app: App, instances: readonly Strata[]): Promise<void> {
  const pg = await postgres(app);
  for (const strata of instances)
    for (const id of app.ids) {
      await vi.waitFor(
        async () => {
          expect((await strata.find(counters, id))?.n ?? null).toBe(pg.get(id)?.n ?? null);
          expect(strata.peek(counters, id)?.n ?? null).toBe(pg.get(id)?.n ?? null);
        },
        { timeout: DEADLINE_MS, interval: 10 },
      );
    }
}

/** L2 holds no row older than Postgres: every row envelope of the current generation is its version. */
async function l2NeverOlder(app: App): Promise<number> {
  const pg = await postgres(app);
  const base = `${app.keyPrefix}:${counters.identity}`;
  const generation = Number((await stack.redis.get(`${base}:gen`)) ?? 0);
  let rows = 0;
  for (const key of await stack.redis.keys(`${base}:*:r:*`)) {
    const envelope = decodeEnvelope((await stack.redis.get(key)) ?? '');
    if (!envelope || envelope.generation < generation || envelope.kind !== 'r') continue;
    const id = Number(key.slice(key.lastIndexOf(':') + 1));
    expect({ id, version: envelope.version, n: JSON.parse(envelope.payload).n }).toEqual({
      id,
      ...pg.get(id),
    });
    rows += 1;
  }
  return rows;
}

/** Every tier of every instance serves what Postgres holds, for every key (the bus delivers within the deadline). */
async function agree(app: App, instances: readonly Strata[]): Promise<void> {
  const pg = await postgres(app);
  await vi.waitFor(
    async () => {
      for (const strata of instances)
        for (const id of app.ids) {
          const held = strata.peek(counters, id);
          if (held !== undefined) expect(held?.n ?? null).toBe(pg.get(id)?.n ?? null);
          expect((await strata.find(counters, id))?.n ?? null).toBe(pg.get(id)?.n ?? null);
        }
    },
    { timeout: DEADLINE_MS, interval: 20 },
  );
  await l2NeverOlder(app);
}

it('A stopped mid-read and abandoned: B takes over after the lease, nothing is lost, and A answering late moves nothing back', async () => {
  const ctx = await app();
  const [k0, k1, k2, k3] = ctx.ids as [number, number, number, number];
  const held = new HeldSource(stack.l3.capture!.source());
  const a = ctx.make('relay-a', held);
  const b = ctx.make('relay-b');
  expect(await b.relayChanges()).toMatchObject({ status: 'applied', gap: true }); // the cursor is stored
  await cacheAll(ctx, [a, b]);
  const cursors = [await ctx.cursor()];

  await outside(`update counters set n = 1 where ${ctx.inRange} and id < ${k0 + 6}`);
  const ran = held.hold();
  const late = a.relayChanges(); // takes the lease, reads, then stops before applying
  expect((await ran).changes.some((c) => c.ids?.includes(String(k0)))).toBe(true);
  expect(await stack.redis.get(ctx.keys.lease)).toMatch(/^relay-a#[0-9a-f]{12}$/);

  // Outside writes go on while A is stuck; B is refused until A's lease expires, then reads all.
  await outside(`update counters set n = 2 where id in (${k0}, ${k1})`);
  await outside(`delete from counters where id = ${k2}`);
  await outside(`insert into counters (id, n) values (${k0 + 50}, 7)`);
  expect(await b.relayChanges()).toEqual({ status: 'busy' });
  expect(await relayed(b)).toMatchObject({ gap: false });
  cursors.push(await ctx.cursor());
  await outside(`update counters set n = 3 where id = ${k3}`);
  await outside(`update counters set n = 4 where id = ${k0}`);
  expect((await relayed(b)).status).toBe('applied');
  cursors.push(await ctx.cursor());
  ctx.ids.push(k0 + 50);
  // B's reads bring every row back at its newest version, in both instances and in L2.
  await agree(ctx, [a, b]);
  expect(await l2NeverOlder(ctx)).toBeGreaterThanOrEqual(ctx.ids.length - 1);

  // A's read answers now: it applies its old page, and must neither store its cursor nor put an
  // old version over a newer one.
  held.release();
  expect(await late).toMatchObject({ status: 'applied', gap: false });
  expect(a.stats().capture.relay).toMatchObject({ leaseLost: 1, errors: 0 });
  cursors.push(await ctx.cursor());
  await l2NeverOlder(ctx);
  await agree(ctx, [a, b]);

  // Later writes still arrive, through whichever relay reads next.
  await outside(`update counters set n = 5 where ${ctx.inRange}`);
  await relayed(a);
  cursors.push(await ctx.cursor());
  await agree(ctx, [a, b]);
  expect(cursors.slice(1).every((c, i) => c >= cursors[i]!)).toBe(true);
  expect(cursors.at(-1)! > cursors[0]!).toBe(true);
});

it('restarted under the same instanceId: the old process answering late neither moves the cursor back nor takes the new lease', async () => {
  const ctx = await app();
  const [k0] = ctx.ids as [number];
  const source = stack.l3.capture!.source();
  const before = new HeldSource(source);
  const a = ctx.make('relay-x', before);
  const b = ctx.make('relay-b');
  await b.relayChanges();
  await cacheAll(ctx, [a, b]);

  await outside(`update counters set n = 10 where id = ${k0}`);
  const ran = before.hold();
  const late = a.relayChanges();
  await ran;
  await outside(`update counters set n = 11 where ${ctx.inRange}`);
  await relayed(b);
  const movedOn = await ctx.cursor();

  // The process of A restarts with its configured instanceId and takes the lease (its read held too).
  const after = new HeldSource(source);
  const restarted = ctx.make('relay-x', after);
  await outside(`update counters set n = 12 where id = ${k0}`);
  const restartedRan = after.hold();
  const pass = restarted.relayChanges();
  await restartedRan;
  const lease = await stack.redis.get(ctx.keys.lease);
  expect(lease).toMatch(/^relay-x#[0-9a-f]{12}$/);

  before.release();
  expect(await late).toMatchObject({ status: 'applied' });
  expect(a.stats().capture.relay).toMatchObject({ leaseLost: 1 });
  expect(await ctx.cursor()).toBe(movedOn);
  expect(await stack.redis.get(ctx.keys.lease)).toBe(lease);

  after.release();
  expect(await pass).toMatchObject({ status: 'applied', gap: false });
  expect(restarted.stats().capture.relay).toMatchObject({ leaseLost: 0, errors: 0 });
  expect(await ctx.cursor()).toBeGreaterThanOrEqual(movedOn);
  await agree(ctx, [restarted, b]);
});

it('closing while a pass is mid-read waits for it: the cursor is stored and the lease freed, not left to expire', async () => {
  const ctx = await app();
  const held = new HeldSource(stack.l3.capture!.source());
  const a = ctx.make('relay-c', held);
  await a.relayChanges(); // the cursor is stored
  const before = await ctx.cursor();
  await outside(`update counters set n = 20 where ${ctx.inRange}`);
  const ran = held.hold();
  const events: string[] = [];
  const pass = a.relayChanges().then((outcome) => {
    events.push('pass');
    return outcome;
  });
  await ran;
  const closing = a.close().then(() => events.push('closed'));
  // A close that does not wait for the pass resolves meanwhile: give it the chance (bounded), then
  // let the read answer.
  await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 200))]);
  held.release();
  await closing;
  expect(events).toEqual(['pass', 'closed']);
  expect(await pass).toMatchObject({ status: 'applied', gap: false });
  expect(await stack.redis.exists(ctx.keys.lease)).toBe(0);
  expect(await ctx.cursor()).toBeGreaterThan(before);
});
