import { afterAll, beforeAll, expect, it } from 'vitest';
import { HeldSource } from './support/held-source.js';
import { type RelayHarness, relayHarness } from './support/relay-harness.js';

/*
 * Two relays of one app (one Redis, one Postgres, the real change log): the one holding the lease
 * is stopped in the middle of a read and abandoned, the other takes over when the lease expires,
 * and the first one's read answers long after. Outside writes go through a plain pg client.
 */
let h: RelayHarness;
beforeAll(async () => {
  // A 1 s lease: short, but long enough for a few statements while A holds it on a loaded machine.
  h = await relayHarness('relay_restart', 1_000);
});
afterAll(() => h?.cleanup(), 30_000);

it('A stopped mid-read and abandoned: B takes over after the lease, nothing is lost, and A answering late moves nothing back', async () => {
  const ctx = await h.app();
  const [k0, k1, k2, k3] = ctx.ids as [number, number, number, number];
  const held = new HeldSource(h.stack.l3.capture!.source());
  const a = ctx.make('relay-a', held);
  const b = ctx.make('relay-b');
  expect(await b.relayChanges()).toMatchObject({ status: 'applied', gap: true }); // the cursor is stored
  await h.cacheAll(ctx, [a, b]);
  const cursors = [await ctx.cursor()];

  await h.outside(`update counters set n = 1 where ${ctx.inRange} and id < ${k0 + 6}`);
  const ran = held.hold();
  const late = a.relayChanges(); // takes the lease, reads, then stops before applying
  expect((await ran).changes.some((c) => c.ids?.includes(String(k0)))).toBe(true);
  expect(await h.stack.redis.get(ctx.keys.lease)).toMatch(/^relay-a#[0-9a-f]{12}$/);

  // Outside writes go on while A is stuck; B is refused until A's lease expires, then reads all.
  await h.outside(`update counters set n = 2 where id in (${k0}, ${k1})`);
  await h.outside(`delete from counters where id = ${k2}`);
  await h.outside(`insert into counters (id, n) values (${k0 + 50}, 7)`);
  expect(await b.relayChanges()).toEqual({ status: 'busy' });
  expect(await h.relayed(b)).toMatchObject({ gap: false });
  cursors.push(await ctx.cursor());
  await h.outside(`update counters set n = 3 where id = ${k3}`);
  await h.outside(`update counters set n = 4 where id = ${k0}`);
  expect((await h.relayed(b)).status).toBe('applied');
  cursors.push(await ctx.cursor());
  ctx.ids.push(k0 + 50);
  // B's reads bring every row back at its newest version, in both instances and in L2.
  await h.agree(ctx, [a, b]);
  expect(await h.l2NeverOlder(ctx)).toBeGreaterThanOrEqual(ctx.ids.length - 1);

  // A's read answers now: it applies its old page, and must neither store its cursor nor put an
  // old version over a newer one.
  held.release();
  expect(await late).toMatchObject({ status: 'applied', gap: false });
  expect(a.stats().capture.relay).toMatchObject({ leaseLost: 1, errors: 0 });
  cursors.push(await ctx.cursor());
  await h.l2NeverOlder(ctx);
  await h.agree(ctx, [a, b]);

  // Later writes still arrive, through whichever relay reads next.
  await h.outside(`update counters set n = 5 where ${ctx.inRange}`);
  await h.relayed(a);
  cursors.push(await ctx.cursor());
  await h.agree(ctx, [a, b]);
  expect(cursors.slice(1).every((c, i) => c >= cursors[i]!)).toBe(true);
  expect(cursors.at(-1)! > cursors[0]!).toBe(true);
});

it('restarted under the same instanceId: the old process answering late neither moves the cursor back nor takes the new lease', async () => {
  const ctx = await h.app();
  const [k0] = ctx.ids as [number];
  const source = h.stack.l3.capture!.source();
  const before = new HeldSource(source);
  const a = ctx.make('relay-x', before);
  const b = ctx.make('relay-b');
  await b.relayChanges();
  await h.cacheAll(ctx, [a, b]);

  await h.outside(`update counters set n = 10 where id = ${k0}`);
  const ran = before.hold();
  const late = a.relayChanges();
  await ran;
  await h.outside(`update counters set n = 11 where ${ctx.inRange}`);
  await h.relayed(b);
  const movedOn = await ctx.cursor();

  // The process of A restarts with its configured instanceId and takes the lease (its read held too).
  const after = new HeldSource(source);
  const restarted = ctx.make('relay-x', after);
  await h.outside(`update counters set n = 12 where id = ${k0}`);
  const restartedRan = after.hold();
  const pass = restarted.relayChanges();
  await restartedRan;
  const lease = await h.stack.redis.get(ctx.keys.lease);
  expect(lease).toMatch(/^relay-x#[0-9a-f]{12}$/);

  before.release();
  expect(await late).toMatchObject({ status: 'applied' });
  expect(a.stats().capture.relay).toMatchObject({ leaseLost: 1 });
  expect(await ctx.cursor()).toBe(movedOn);
  expect(await h.stack.redis.get(ctx.keys.lease)).toBe(lease);

  after.release();
  expect(await pass).toMatchObject({ status: 'applied', gap: false });
  expect(restarted.stats().capture.relay).toMatchObject({ leaseLost: 0, errors: 0 });
  expect(await ctx.cursor()).toBeGreaterThanOrEqual(movedOn);
  await h.agree(ctx, [restarted, b]);
});

it('closing while a pass is mid-read waits for it: the cursor is stored and the lease freed, not left to expire', async () => {
  const ctx = await h.app();
  const held = new HeldSource(h.stack.l3.capture!.source());
  const a = ctx.make('relay-c', held);
  await a.relayChanges(); // the cursor is stored
  const before = await ctx.cursor();
  await h.outside(`update counters set n = 20 where ${ctx.inRange}`);
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
  expect(await h.stack.redis.exists(ctx.keys.lease)).toBe(0);
  expect(await ctx.cursor()).toBeGreaterThan(before);
});
