import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cacheStatusHeader, manualClock } from '../src/driver.js';
import { type Duration, defineSchema, isStrataError, type L2Tier, Q, Strata } from '../src/index.js';
import type { L3Tier } from '../src/l3/types.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type Deferred, deferred } from './support/deferred.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL3 } from './support/wrap.js';

// Stale-while-revalidate and grace over the real tiers (Upstash REST over Redis, node-postgres).
// The L3 is the real one, wrapped to count, hold or fail its reads; the clock is manual, so a row
// goes stale by `advance` (Redis keeps it: its PX runs on real time, longer than any test).

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('engine_staleness');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
// Each test is its own app (keyPrefix) on the players table: once it is done, its claim lapses, as a
// stopped app's would (docs/semantics.md, "One writer per table"), so the next may write another mode.
afterEach(() => stack.lapseClaims());
afterAll(() => stack?.cleanup());

/** The real L3, counting `findMany` calls; a read can be held (`hold`) or made to fail (`failing`). */
function watchedL3() {
  const state = {
    calls: 0,
    ids: [] as string[][],
    failing: false,
    hold: undefined as Deferred<void> | undefined,
    entered: deferred<void>(),
  };
  const l3: L3Tier = wrapL3(stack.l3, {
    findMany: async (schema, ids) => {
      state.calls += 1;
      state.ids.push(ids.map(String));
      state.entered.resolve();
      if (state.hold) await state.hold.promise;
      if (state.failing) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      return stack.l3.findMany(schema, ids);
    },
  });
  return { l3, state };
}

let run = 0;
function setup(windows: { stale?: Duration; grace?: Duration }, instances = 1) {
  run += 1;
  const clock = manualClock();
  const { l3, state } = watchedL3();
  const schema = defineSchema({
    table: stack.tables.players,
    l1: { ttl: '10s' },
    l2: { ttl: '10s' },
    ...windows,
  });
  const make = () =>
    new Strata({ l2: stack.l2, l3, clock, keyPrefix: `${stack.keyPrefix}s${run}`, schemas: [schema] });
  const all = Array.from({ length: instances }, make);
  return { clock, state, schema, strata: all[0]!, all };
}

const players = () => stack.tables.players;
async function changeOutside(id: string, username: string) {
  await stack.db.update(players()).set({ username }).where(eq(players().id, id));
}

describe('stale-while-revalidate', () => {
  it('answers a stale L1 row at once and refreshes it in the background, even with background: await', async () => {
    const { clock, state, schema, strata } = setup({ stale: '1m' });
    await strata.set(schema, { id: 'swr-1', username: 'swr-before' });
    await changeOutside('swr-1', 'swr-after');
    clock.advance(11_000);
    state.hold = deferred<void>();
    // Answered while Postgres holds the refresh's query.
    expect((await strata.get(schema, 'swr-1')).username).toBe('swr-before');
    await state.entered.promise;
    expect(state.calls).toBe(1);
    expect(strata.stats()).toMatchObject({ staleHits: 1, refreshes: 1 });
    // A second stale read does not start a second refresh.
    expect((await strata.get(schema, 'swr-1')).username).toBe('swr-before');
    expect(strata.stats()).toMatchObject({ staleHits: 2, refreshes: 1 });
    state.hold.resolve();
    await strata.settled();
    expect((await strata.get(schema, 'swr-1')).username).toBe('swr-after');
    expect(strata.stats()).toMatchObject({ staleHits: 2, refreshes: 1 });
    expect(state.calls).toBe(1);
    await strata.close();
  });

  it('peek and findWithStatus answer a stale L1 row synchronously (no L2 request) and start one refresh', async () => {
    const { clock, state, schema, strata } = setup({ stale: '1m' });
    await strata.set(schema, { id: 'swr-peek', username: 'peek-before' });
    await changeOutside('swr-peek', 'peek-after');
    // Fresh: peek answers, findWithStatus says L1 and how long it stays fresh.
    expect(strata.peek(schema, 'swr-peek')?.username).toBe('peek-before');
    expect((await strata.findWithStatus(schema, 'swr-peek')).status).toMatchObject({
      tier: 'l1',
      stale: false,
      freshForMs: 10_000,
    });
    clock.advance(11_000);
    state.hold = deferred<void>();
    stack.reset();
    expect(strata.peek(schema, 'swr-peek')?.username).toBe('peek-before');
    const { row, status } = await strata.findWithStatus(schema, 'swr-peek');
    expect(row?.username).toBe('peek-before');
    expect(status).toMatchObject({ tier: 'l1', stale: true, refreshing: true, freshForMs: -1_000 });
    expect(strata.stats()).toMatchObject({ staleHits: 2, refreshes: 1 });
    state.hold.resolve();
    await strata.settled();
    // Both answered from L1 alone: the one L2 read is the refresh's (its generation read first, as
    // 11 s passed; then its lease and its fill).
    expect(stack.l2Commands).toEqual(['evalsha generation', 'mget', 'evalsha take-leases', 'evalsha put']);
    expect(strata.peek(schema, 'swr-peek')?.username).toBe('peek-after');
    expect(state.calls).toBe(1);
    await strata.close();
  });

  it('an instance without the row in L1 answers L2 stale row at once, and refreshes both tiers', async () => {
    const { clock, state, schema, all } = setup({ stale: '1m' }, 2);
    const [a, b] = all as [Strata, Strata];
    await a.set(schema, { id: 'swr-2', username: 'swr2-before' });
    await changeOutside('swr-2', 'swr2-after');
    clock.advance(11_000);
    await b.find(schema, 'warm-generation'); // B's first read also reads the schema's generation
    const calls = state.calls;
    state.hold = deferred<void>();
    stack.reset();
    expect((await b.get(schema, 'swr-2')).username).toBe('swr2-before');
    expect(b.stats()).toMatchObject({ staleHits: 1, refreshes: 1 });
    expect(b.stats().hits.l2).toBe(1);
    state.hold.resolve();
    await b.settled();
    expect(state.calls).toBe(calls + 1);
    // One L2 read for the answer; the refresh does not read L2 again: its lease, then its fill.
    expect(stack.l2Commands).toEqual(['mget', 'evalsha take-leases', 'evalsha put']);
    // The refresh wrote L2 too: the writer's stale L1 refreshes from it without asking Postgres.
    expect((await a.get(schema, 'swr-2')).username).toBe('swr2-before');
    await a.settled();
    expect((await a.get(schema, 'swr-2')).username).toBe('swr2-after');
    expect(state.calls).toBe(calls + 1);
    await Promise.all(all.map((s) => s.close()));
  });

  it('1,000 concurrent stale reads across 3 instances make one Postgres query', async () => {
    const { clock, state, schema, all } = setup({ stale: '1m' }, 3);
    await all[0]!.set(schema, { id: 'swr-3', username: 'swr3-before' });
    for (const s of all.slice(1)) await s.get(schema, 'swr-3');
    await changeOutside('swr-3', 'swr3-after');
    clock.advance(11_000);
    state.hold = deferred<void>();
    const reads = Array.from({ length: 1_000 }, (_, i) => all[i % 3]!.get(schema, 'swr-3'));
    const rows = await Promise.all(reads);
    expect(rows.every((r) => r.username === 'swr3-before')).toBe(true);
    await state.entered.promise;
    state.hold.resolve();
    await Promise.all(all.map((s) => s.settled()));
    expect(state.calls).toBe(1);
    const refreshes = all.map((s) => s.stats().refreshes);
    expect(refreshes).toEqual([1, 1, 1]);
    expect(all.reduce((n, s) => n + s.stats().refreshesLeased, 0)).toBe(2);
    // The two instances that lost the lease refresh from L2 on their next stale read.
    for (const s of all) await s.get(schema, 'swr-3');
    await Promise.all(all.map((s) => s.settled()));
    for (const s of all) expect((await s.get(schema, 'swr-3')).username).toBe('swr3-after');
    expect(state.calls).toBe(1);
    await Promise.all(all.map((s) => s.close()));
  });

  it('stale: false reads through; getMany refreshes its stale rows in one query', async () => {
    const { clock, state, schema, strata } = setup({ stale: '1m' });
    await strata.setMany(schema, [
      { id: 'swr-4a', username: 'swr4a' },
      { id: 'swr-4b', username: 'swr4b' },
    ]);
    await changeOutside('swr-4a', 'swr4a-after');
    clock.advance(11_000);
    expect((await strata.get(schema, 'swr-4a', { stale: false })).username).toBe('swr4a-after');
    expect(state.calls).toBe(1);
    clock.advance(11_000);
    const rows = await strata.getMany(schema, ['swr-4a', 'swr-4b']);
    expect(rows.map((r) => r?.username)).toEqual(['swr4a-after', 'swr4b']);
    await strata.settled();
    expect(state.calls).toBe(2);
    expect(state.ids[1]!.sort()).toEqual(['swr-4a', 'swr-4b']);
    await strata.close();
  });

  it('a Duration narrows the window for one call, in L1 and from L2 (max-stale); a bad one changes nothing', async () => {
    const { clock, state, schema, all } = setup({ stale: '1m' }, 2);
    const [a, b] = all as [Strata, Strata];
    await a.set(schema, { id: 'swr-ms', username: 'ms-before' });
    await changeOutside('swr-ms', 'ms-after');
    await b.find(schema, 'warm-generation');
    clock.advance(15_000); // stale for 5 s in both tiers
    const calls = state.calls;
    // L1 (a): within 10 s of stale it answers at once; within 2 s it reads through.
    expect((await a.get(schema, 'swr-ms', { stale: '10s' })).username).toBe('ms-before');
    await a.settled(); // the refresh of the stale answer (one query)
    expect(state.calls).toBe(calls + 1);
    // L2 (b has no L1 copy): the refresh above put the new row in L2, so ask a key still stale there.
    await a.set(schema, { id: 'swr-ms2', username: 'ms2-before' });
    await changeOutside('swr-ms2', 'ms2-after');
    clock.advance(15_000);
    await b.find(schema, 'warm-generation-2');
    const before = state.calls;
    expect((await b.get(schema, 'swr-ms2', { stale: 2_000 })).username).toBe('ms2-after');
    expect(state.calls).toBe(before + 1);
    expect(b.stats().staleHits).toBe(0);
    // a's L1 copy is as stale: it reads through too, and finds b's fill fresh in L2 (no query).
    expect((await a.find(schema, 'swr-ms2', { stale: '2s' }))?.username).toBe('ms2-after');
    expect(state.calls).toBe(before + 1);
    // A bad duration is a typed error before any tier is asked.
    stack.reset();
    await expect(a.get(schema, 'swr-ms2', { stale: '5x' as Duration })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
    });
    await expect(a.getMany(schema, ['swr-ms2'], { stale: -1 })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
    });
    expect(stack.l2Commands).toEqual([]);
    expect(state.calls).toBe(before + 1);
    await Promise.all(all.map((s) => s.close()));
  });

  it('past the stale window a read waits for Postgres', async () => {
    const { clock, state, schema, strata } = setup({ stale: '1m' });
    await strata.set(schema, { id: 'swr-5', username: 'swr5' });
    await changeOutside('swr-5', 'swr5-after');
    clock.advance(71_000);
    expect((await strata.get(schema, 'swr-5')).username).toBe('swr5-after');
    expect(state.calls).toBe(1);
    expect(strata.stats().staleHits).toBe(0);
    await strata.close();
  });
});

describe('grace', () => {
  it('answers the last row while Postgres fails, asks again at most once a second, and stops when grace ends', async () => {
    const { clock, state, schema, strata } = setup({ grace: '1m' });
    await strata.set(schema, { id: 'gr-1', username: 'grace-1' });
    clock.advance(11_000);
    state.failing = true;
    expect((await strata.get(schema, 'gr-1')).username).toBe('grace-1');
    expect(state.calls).toBe(1);
    expect(strata.stats().graceHits).toBe(1);
    expect(strata.stats().errorsBy.l3).toBe(1);
    // Backoff: the next read within a second does not ask Postgres.
    expect((await strata.get(schema, 'gr-1')).username).toBe('grace-1');
    expect(state.calls).toBe(1);
    clock.advance(1_500);
    expect((await strata.get(schema, 'gr-1')).username).toBe('grace-1');
    expect(state.calls).toBe(2);
    expect(strata.stats().graceHits).toBe(3);
    clock.advance(60_000);
    const err = await strata.get(schema, 'gr-1').catch((e: unknown) => e);
    expect(isStrataError(err, 'L3_UNAVAILABLE')).toBe(true);
    state.failing = false;
    expect((await strata.get(schema, 'gr-1')).username).toBe('grace-1');
    await strata.close();
  });

  it('another instance answers from the L2 copy in grace', async () => {
    const { clock, state, schema, all } = setup({ grace: '1m' }, 2);
    const [a, b] = all as [Strata, Strata];
    await a.set(schema, { id: 'gr-2', username: 'grace-2' });
    clock.advance(30_000);
    state.failing = true;
    expect((await b.get(schema, 'gr-2')).username).toBe('grace-2');
    expect(b.stats().graceHits).toBe(1);
    // Kept in L1 for the backoff: no second query.
    expect((await b.get(schema, 'gr-2')).username).toBe('grace-2');
    expect(state.calls).toBe(1);
    await Promise.all(all.map((s) => s.close()));
  });

  it('never past an invalidate or a delete, and never when no copy exists', async () => {
    const { clock, state, schema, strata } = setup({ grace: '1m' });
    await strata.set(schema, { id: 'gr-3', username: 'grace-3' });
    await strata.set(schema, { id: 'gr-4', username: 'grace-4' });
    await strata.invalidate(schema, 'gr-3');
    await strata.delete(schema, 'gr-4');
    clock.advance(11_000);
    state.failing = true;
    const invalidated = await strata.get(schema, 'gr-3').catch((e: unknown) => e);
    expect(isStrataError(invalidated, 'L3_UNAVAILABLE')).toBe(true);
    const never = await strata.get(schema, 'gr-none').catch((e: unknown) => e);
    expect(isStrataError(never, 'L3_UNAVAILABLE')).toBe(true);
    const deleted = await strata.find(schema, 'gr-4').catch((e: unknown) => e);
    expect(isStrataError(deleted, 'L3_UNAVAILABLE')).toBe(true);
    expect(strata.stats().graceHits).toBe(0);
    await strata.close();
  });

  it('a schema whose source is L2 (l3: false) is graced from L1 while Redis fails', async () => {
    const clock = manualClock();
    let down = false;
    const flaky: L2Tier = {
      name: stack.l2.name,
      getMany: (keys) => (down ? Promise.reject(new Error('ECONNRESET')) : stack.l2.getMany(keys)),
      run: (script, keys, args) =>
        down ? Promise.reject(new Error('ECONNRESET')) : stack.l2.run(script, keys, args),
      close: () => stack.l2.close(),
    };
    const schema = defineSchema({ table: stack.tables.sessions, l3: false, l1: { ttl: '10s' }, grace: '1m' });
    const strata = new Strata({ l2: flaky, clock, keyPrefix: `${stack.keyPrefix}l2src`, schemas: [schema] });
    await strata.set(schema, { id: 'gr-l2', userId: 'u-grace' });
    clock.advance(11_000);
    down = true;
    expect((await strata.get(schema, 'gr-l2')).userId).toBe('u-grace');
    expect(strata.stats().graceHits).toBe(1);
    clock.advance(60_000);
    const err = await strata.get(schema, 'gr-l2').catch((e: unknown) => e);
    expect(isStrataError(err, 'L2_UNAVAILABLE')).toBe(true);
    down = false;
    expect((await strata.get(schema, 'gr-l2')).userId).toBe('u-grace');
    await strata.close();
  });

  it('a Postgres error that is not unavailability (the table is gone: INVALID_MODEL) is not graced', async () => {
    const { clock, state, schema, strata } = setup({ grace: '1m' });
    await strata.set(schema, { id: 'gr-5', username: 'grace-5' });
    clock.advance(11_000);
    // The real Postgres answers 42P01 (undefined table) for this file's own table, renamed away.
    await stack.pool.query(`alter table "${stack.name}".players rename to players_away`);
    try {
      const err = await strata.get(schema, 'gr-5').catch((e: unknown) => e);
      expect(isStrataError(err, 'INVALID_MODEL')).toBe(true);
      expect(state.calls).toBe(1);
      expect(strata.stats().graceHits).toBe(0);
    } finally {
      await stack.pool.query(`alter table "${stack.name}".players_away rename to players`);
    }
    // Postgres down, the same copy is graced: the rule is about the error, not the key.
    state.failing = true;
    expect((await strata.get(schema, 'gr-5')).username).toBe('grace-5');
    expect(strata.stats().graceHits).toBe(1);
    await strata.close();
  });
});

describe('expire (soft invalidation)', () => {
  it('with a stale window: every instance answers the old row at once (no clock moved) and one refresh loads the new one', async () => {
    const { state, schema, all } = setup({ stale: '1m' }, 2);
    const [a, b] = all as [Strata, Strata];
    await a.set(schema, { id: 'ex-1', username: 'expire-before' });
    expect((await b.get(schema, 'ex-1')).username).toBe('expire-before'); // B holds it in L1
    await changeOutside('ex-1', 'expire-after');
    const calls = state.calls;
    await a.expire(schema, 'ex-1');
    // A's L1 copy went (no bus here: B keeps its fresh L1 copy until its TTL, as after invalidate).
    expect(a.peek(schema, 'ex-1')).toBeUndefined();
    const [key] = await stack.redis.keys(`${stack.keyPrefix}*:r:ex-1`);
    expect(await stack.redis.pttl(key!)).toBeGreaterThan(60_000); // the row and its TTL are kept
    state.hold = deferred<void>();
    const { row, status } = await a.findWithStatus(schema, 'ex-1');
    expect(row?.username).toBe('expire-before');
    expect(status).toMatchObject({ tier: 'l2', stale: true, freshForMs: -1 });
    state.hold.resolve();
    await a.settled();
    expect(state.calls).toBe(calls + 1);
    expect((await a.get(schema, 'ex-1')).username).toBe('expire-after');
    await Promise.all(all.map((s) => s.close()));
  });

  it('with grace only: the next read reloads, and answers the expired row while Postgres fails (invalidate would not)', async () => {
    const { state, schema, strata } = setup({ grace: '1m' });
    await strata.setMany(schema, [
      { id: 'ex-2', username: 'expire-2' },
      { id: 'ex-3', username: 'expire-3' },
    ]);
    await strata.expire(schema, 'ex-2');
    await strata.invalidate(schema, 'ex-3');
    state.failing = true;
    expect((await strata.get(schema, 'ex-2')).username).toBe('expire-2');
    expect(strata.stats().graceHits).toBe(1);
    const gone = await strata.get(schema, 'ex-3').catch((e: unknown) => e);
    expect(isStrataError(gone, 'L3_UNAVAILABLE')).toBe(true);
    state.failing = false;
    await changeOutside('ex-2', 'expire-2b');
    await strata.expire(schema, 'ex-2');
    expect((await strata.get(schema, 'ex-2')).username).toBe('expire-2b');
    await strata.close();
  });

  it('leaves a pending write-behind row alone', async () => {
    const schema = defineSchema({
      table: stack.tables.players,
      writeMode: 'write-behind',
      l1: false,
      stale: '1m',
    });
    const keyPrefix = `${stack.keyPrefix}wb`;
    const strata = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix,
      schemas: [schema],
      writeBehind: { queue: createMemoryQueue() },
    });
    await strata.set(schema, { id: 'ex-wb', username: 'expire-wb' });
    const [key] = await stack.redis.keys(`${keyPrefix}*:r:ex-wb`);
    const pending = await stack.redis.get(key!);
    await strata.expire(schema, 'ex-wb');
    expect(await stack.redis.get(key!)).toBe(pending);
    expect((await strata.findWithStatus(schema, 'ex-wb')).status).toMatchObject({ tier: 'l2', stale: false });
    await strata.flushDirty();
    await strata.close();
  });

  it('without windows it is invalidate; a bad id is a typed error and changes nothing', async () => {
    const { schema, strata } = setup({});
    await strata.set(schema, { id: 'ex-4', username: 'expire-4' });
    await changeOutside('ex-4', 'expire-4b');
    await strata.expire(schema, 'ex-4');
    expect((await strata.get(schema, 'ex-4')).username).toBe('expire-4b');
    const keys = async () => (await stack.redis.keys(`${stack.keyPrefix}*`)).sort();
    const before = await keys();
    const err = await strata.expire(schema, { bad: true } as never).catch((e: unknown) => e);
    expect(isStrataError(err)).toBe(true);
    expect(await keys()).toEqual(before);
    await strata.close();
  });
});

describe('findWithStatus', () => {
  it('says which tier answered, whether stale or graced, and how long it stays fresh', async () => {
    const { clock, state, schema, all } = setup({ stale: '1m', grace: '5m' }, 2);
    const [a, b] = all as [Strata, Strata];
    await a.set(schema, { id: 'st-1', username: 'status-1' });
    const l1 = await a.findWithStatus(schema, 'st-1');
    expect(l1.row?.username).toBe('status-1');
    expect(l1.status).toMatchObject({
      tier: 'l1',
      stale: false,
      grace: false,
      refreshing: false,
      freshForMs: 10_000,
      ageMs: 0,
    });
    expect(l1.status.version).toBeGreaterThan(0);
    clock.advance(4_000);
    const l2 = await b.findWithStatus(schema, 'st-1');
    expect(l2.status).toMatchObject({
      tier: 'l2',
      stale: false,
      freshForMs: 6_000,
      ageMs: 4_000,
      version: l1.status.version,
    });
    expect(cacheStatusHeader(l2.status)).toBe('strata-l2; hit; ttl=6');
    const cold = await b.findWithStatus(schema, 'st-none');
    expect(cold).toEqual({
      row: null,
      status: expect.objectContaining({ tier: 'l3', version: 0, ageMs: 0 }),
    });
    expect(cacheStatusHeader(cold.status)).toBe('strata; fwd=miss; stored');

    clock.advance(7_000);
    state.hold = deferred<void>();
    const stale = await a.findWithStatus(schema, 'st-1');
    expect(stale.status).toMatchObject({
      tier: 'l1',
      stale: true,
      grace: false,
      refreshing: true,
      freshForMs: -1_000,
      ageMs: 11_000,
    });
    expect(cacheStatusHeader(stale.status)).toBe('strata-l1; hit; ttl=-1; detail=stale');
    state.hold.resolve();
    await a.settled();
    expect((await a.findWithStatus(schema, 'st-1')).status).toMatchObject({
      tier: 'l1',
      stale: false,
      refreshing: false,
    });

    clock.advance(2 * 60_000);
    state.failing = true;
    const graced = await b.findWithStatus(schema, 'st-1');
    expect(graced.row?.username).toBe('status-1');
    expect(graced.status).toMatchObject({ stale: true, grace: true });
    expect(cacheStatusHeader(graced.status)).toMatch(/; detail=grace$/);
    await Promise.all(all.map((s) => s.close()));
  });

  it('works the same for a schema without windows (never stale)', async () => {
    const { strata, schema } = setup({});
    await strata.set(schema, { id: 'st-2', username: 'status-2' });
    expect((await strata.findWithStatus(schema, 'st-2')).status).toMatchObject({ tier: 'l1', stale: false });
    expect(await strata.findWithStatus(schema, 'st-missing')).toMatchObject({
      row: null,
      status: { tier: 'l3' },
    });
    await strata.close();
  });

  it('getManyWithStatus: each position says its tier, stale or not, in one load below L1', async () => {
    const { clock, state, schema, all } = setup({ stale: '1m' }, 2);
    const [a, b] = all as [Strata, Strata];
    await a.setMany(schema, [
      { id: 'gm-fresh', username: 'gm-1' },
      { id: 'gm-stale', username: 'gm-2' },
      { id: 'gm-stale2', username: 'gm-3' },
    ]);
    await b.find(schema, 'warm-generation');
    clock.advance(5_000);
    await a.set(schema, { id: 'gm-fresh', username: 'gm-1b' }); // fresh again in a's L1 and in L2
    clock.advance(6_000); // gm-stale: 1 s past its TTL everywhere
    stack.reset();
    const ids = ['gm-fresh', 'gm-stale', 'gm-none', 'gm-fresh', 'gm-stale2'];
    const calls = state.calls;
    const mine = await a.getManyWithStatus(schema, ids);
    expect(mine.rows.map((r) => r?.username ?? null)).toEqual(['gm-1b', 'gm-2', null, 'gm-1b', 'gm-3']);
    expect(mine.status.map((s) => [s.tier, s.stale])).toEqual([
      ['l1', false],
      ['l1', true],
      ['l3', false],
      ['l1', false],
      ['l1', true],
    ]);
    expect(mine.status[1]).toMatchObject({ refreshing: true, freshForMs: -1_000 });
    await a.settled();
    // The miss and the two stale rows' one refresh: two queries.
    expect(state.ids.slice(calls).map((q) => q.sort())).toEqual([['gm-none'], ['gm-stale', 'gm-stale2']]);
    const theirs = await b.getManyWithStatus(schema, ['gm-fresh', 'gm-stale', 'gm-none']);
    // No negative caching here: the absent id is asked of Postgres again.
    expect(theirs.status.map((s) => s.tier)).toEqual(['l2', 'l2', 'l3']);
    expect(theirs.status[0]).toMatchObject({ stale: false, freshForMs: 4_000 });
    // gm-stale was refreshed by a's read: fresh in L2 now.
    expect(theirs.status[1]!.stale).toBe(false);
    // b's L1 now holds them: the next call asks no tier.
    stack.reset();
    expect((await b.getManyWithStatus(schema, ['gm-fresh', 'gm-stale'])).status.map((s) => s.tier)).toEqual([
      'l1',
      'l1',
    ]);
    expect(stack.l2Commands).toEqual([]);
    expect(state.calls).toBeGreaterThan(0);
    await Promise.all(all.map((s) => s.close()));
  });

  it('searchCachedWithStatus: the list from Postgres, then from L2 with its age; a write makes the next one read again', async () => {
    const { clock, schema, strata } = setup({});
    await strata.set(schema, { id: 'sc-1', username: 'sc-status-1' });
    const query = Q().where('username like $1', 'sc-status-%').build();
    const first = await strata.searchCachedWithStatus(schema, query);
    expect(first.rows.map((r) => r.id)).toEqual(['sc-1']);
    expect(first.status).toMatchObject({ tier: 'l3', stale: false, ageMs: 0, freshForMs: 10_000 });
    await strata.settled(); // the list's deferred L2 write
    clock.advance(4_000);
    const second = await strata.searchCachedWithStatus(schema, query);
    expect(second.rows.map((r) => r.id)).toEqual(['sc-1']);
    expect(second.status).toEqual({
      tier: 'l2',
      stale: false,
      grace: false,
      refreshing: false,
      version: first.status.version,
      freshForMs: 6_000,
      ageMs: 4_000,
    });
    await strata.set(schema, { id: 'sc-2', username: 'sc-status-2' });
    const third = await strata.searchCachedWithStatus(schema, query);
    expect(third.rows.map((r) => r.id).sort()).toEqual(['sc-1', 'sc-2']);
    expect(third.status.tier).toBe('l3');
    expect(third.status.version).toBeGreaterThan(first.status.version);
    await strata.close();
  });
});
