import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { type App, twoApps } from './support/two-apps.js';

/*
 * Two Strata apps (two keyPrefixes: each its own caches and relay) write one table, both with change
 * capture installed (an API and a worker on one database). Each app's writes reach the other app's
 * caches through the other's relay, marked superseded at the writer's version; the writer's own
 * caches are not invalidated by its own writes coming back; and while one app alone captures a table,
 * its writes log nothing (the single-app cost). Relay passes are driven by hand (`relayChanges()`).
 */
let stack: EngineStack;
let apps: ReturnType<typeof twoApps>;
const through = () => defineSchema({ table: stack.tables.players, l1: { ttl: '10m' }, l2: { ttl: '10m' } });
const behind = () =>
  defineSchema({
    table: stack.tables.sessions,
    writeMode: 'write-behind',
    l1: { ttl: '10m' },
    l2: { ttl: '10m' },
  });
let players: ReturnType<typeof through>;
let sessions: ReturnType<typeof behind>;
const instance = (app: string) => apps.instance(app);
const inL2 = (app: App, id: string) => apps.inL2(app, id);
const version = (schema: string, id: string) => apps.version(schema, id);
const logged = (schema: string) => apps.logged(schema);

let a: App;
let b: App;

beforeAll(async () => {
  stack = await engineStack('capture_two_apps');
  players = through();
  sessions = behind();
  apps = twoApps(stack, () => [players, sessions]);
  a = instance('a');
  await a.migrate({ capture: true });
});
afterAll(async () => {
  for (const x of [a, b]) await x?.capture.remove();
  await apps?.close();
  await stack?.cleanup();
});

describe('one app alone on a table', () => {
  it('logs none of its writes (no log row, no lookup) and its relay applies nothing of them', async () => {
    expect(await a.relayChanges()).toMatchObject({ status: 'applied' });
    await a.set(players, { id: 'solo', username: 'solo', level: 1 });
    await a.delete(players, 'solo');
    expect(await logged(players.identity)).toEqual([]);
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 0, gap: false });
  });
});

describe('two apps on one table', () => {
  beforeAll(async () => {
    b = instance('b');
    await b.capture.install();
    // Each app's relay starts its cursor at its first poll: before any write here.
    for (const x of [a, b]) expect(await x.relayChanges()).toMatchObject({ status: 'applied' });
  });

  it('both are registered and check() says so for each', async () => {
    expect(await apps.registered(players.identity)).toEqual([a.app, b.app]);
    for (const x of [a, b]) expect((await x.capture.check()).every((c) => c.installed)).toBe(true);
  });

  it("app A's write reaches B's L1 and L2 through B's relay, at A's version; A's caches keep serving it", async () => {
    await a.setMany(players, [
      { id: 's0', username: 's0', level: 1 },
      { id: 's1', username: 's1', level: 1 },
    ]);
    expect(await b.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    // Cached in B's L1 and L2.
    expect((await b.getMany(players, ['s0', 's1'])).map((r) => r?.level)).toEqual([1, 1]);
    expect((await b.getMany(players, ['s0', 's1'])).map((r) => r?.level)).toEqual([1, 1]);
    const bReads = b.l3On('players');
    await a.set(players, { id: 's1', username: 's1', level: 2 });
    const v = await version(players.identity, 's1');
    // Before B's relay pass, B still serves its copy (nothing else tells it).
    expect((await b.get(players, 's1')).level).toBe(1);
    expect(await b.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect(await inL2(b, 's1')).toMatchObject({ kind: 'x', version: v });
    expect((await b.get(players, 's1')).level).toBe(2);
    expect(b.l3On('players') - bReads, 'one read of Postgres, for s1 only').toBe(1);
    expect((await b.get(players, 's0')).level).toBe(1);
    expect(b.l3On('players') - bReads).toBe(1);
    // Another instance of B (empty L1) is served the new row by B's L2.
    const b2 = instance('b');
    expect((await b2.get(players, 's1')).level).toBe(2);
    expect(b2.l3On('players')).toBe(0);

    // A's own write came back in the log under A's name; A's relay skips it: A reads no Postgres.
    expect((await logged(players.identity)).at(-1)).toEqual({ app: a.app, ids: ['s1'] });
    const aReads = a.l3On('players');
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 0, gap: false });
    expect((await a.get(players, 's1')).level).toBe(2);
    expect(await inL2(a, 's1')).toMatchObject({ kind: 'r', version: v });
    expect(a.l3On('players') - aReads).toBe(0);
  });

  it("and B's write reaches A the same way", async () => {
    expect((await a.get(players, 's0')).level).toBe(1);
    await b.set(players, { id: 's0', username: 's0', level: 7 });
    const v = await version(players.identity, 's0');
    expect(await b.relayChanges()).toMatchObject({ changes: 0 });
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect(await inL2(a, 's0')).toMatchObject({ kind: 'x', version: v });
    expect((await a.get(players, 's0')).level).toBe(7);
    const bReads = b.l3On('players');
    expect((await b.get(players, 's0')).level).toBe(7);
    expect(b.l3On('players') - bReads).toBe(0);
  });

  it("a delete by A: B's relay drops its copies, B reads no row", async () => {
    expect((await b.get(players, 's0')).level).toBe(7);
    await a.delete(players, 's0');
    expect(await b.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect(await b.find(players, 's0')).toBeNull();
    expect(await a.relayChanges()).toMatchObject({ changes: 0 });
    expect(await a.find(players, 's0')).toBeNull();
  });

  it('a write outside Strata still reaches both (logged with no app)', async () => {
    for (const x of [a, b]) expect((await x.get(players, 's1')).level).toBe(2);
    await stack.pool.query(`update "${stack.name}".players set level = 5 where id = 's1'`);
    expect((await logged(players.identity)).at(-1)).toEqual({ app: null, ids: ['s1'] });
    for (const x of [a, b]) {
      expect(await x.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
      expect((await x.get(players, 's1')).level).toBe(5);
    }
  });

  it("a write-behind table: A's flushed write reaches B at its version", async () => {
    await a.set(sessions, { id: 'w1', userId: 'p', data: { t: 1 } });
    await a.flushDirty();
    expect(await b.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect((await b.get(sessions, 'w1')).data).toEqual({ t: 1 });
    expect((await b.get(sessions, 'w1')).data).toEqual({ t: 1 });
    await a.set(sessions, { id: 'w1', userId: 'p', data: { t: 2 } });
    await a.flushDirty();
    const v = await version(sessions.identity, 'w1');
    expect(await b.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect((await b.get(sessions, 'w1')).data).toEqual({ t: 2 });
    expect(await a.relayChanges()).toMatchObject({ changes: 0 });
    const aReads = a.l3On('sessions');
    expect((await a.get(sessions, 'w1')).data).toEqual({ t: 2 });
    expect(a.l3On('sessions') - aReads).toBe(0);
    expect((await logged(sessions.identity)).at(-1)).toEqual({ app: a.app, ids: ['w1'] });
    expect(v).toBeGreaterThan(0);
  });

  it("once B is unregistered, A's writes are quiet again, and B's still reach A", async () => {
    // Unregistered by hand (an app retired without its remove()), then A installs again.
    await stack.pool.query(`delete from "${stack.name}"."_strata_capture_apps" where app = $1`, [b.app]);
    expect((await a.capture.check()).every((c) => c.installed)).toBe(false); // the function is outdated
    await a.capture.install();
    const before = (await logged(players.identity)).length;
    await a.set(players, { id: 's9', username: 's9', level: 1 });
    expect((await logged(players.identity)).length).toBe(before);
    expect((await b.capture.check()).flatMap((c) => c.missing)).toContain(
      `app ${b.app} in _strata_capture_apps`,
    );
    // B, unregistered, still writes as itself: A (registered) hears of it; B hears nothing of A.
    expect((await a.get(players, 's9')).level).toBe(1);
    await b.set(players, { id: 's9', username: 's9', level: 3 });
    expect((await logged(players.identity)).at(-1)).toEqual({ app: b.app, ids: ['s9'] });
    expect(await a.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    expect((await a.get(players, 's9')).level).toBe(3);
  });
});
