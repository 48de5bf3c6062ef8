import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { type App, twoApps } from './support/two-apps.js';

/*
 * Two Strata apps capture one table; one of them removes its capture. Its remove() unregisters that
 * app only: the other app's capture goes on exactly as a fresh install by it alone would leave it
 * (its own writes quiet again, the remover's and outside writes still heard), and only the last
 * app's remove drops the triggers and functions (never a table, never a row).
 */
let stack: EngineStack;
let apps: ReturnType<typeof twoApps>;
let a: App;
let b: App;
const players = () => defineSchema({ table: stack.tables.players, l1: { ttl: '10m' }, l2: { ttl: '10m' } });
const sessions = () =>
  defineSchema({ table: stack.tables.sessions, writeMode: 'write-behind', l1: { ttl: '10m' } });
let p: ReturnType<typeof players>;
let s: ReturnType<typeof sessions>;

const q = (text: string, values?: unknown[]) => stack.pool.query(text, values);

/** Capture's triggers on the stack's tables, functions in its schema, and its event trigger. */
async function captureObjects() {
  const triggers = await q(
    `select c.relname || '.' || t.tgname as name from pg_trigger t join pg_class c on c.oid = t.tgrelid
     join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and t.tgname like '\\_strata\\_%' order by 1`,
    [stack.name],
  );
  const functions = await q(
    `select p.proname as name, p.prosrc as body from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = $1 and p.proname like '\\_strata\\_%' order by 1`,
    [stack.name],
  );
  const events = await q(
    `select e.evtname from pg_event_trigger e join pg_proc p on p.oid = e.evtfoid
     join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1`,
    [stack.name],
  );
  return {
    triggers: triggers.rows.map((r) => r.name as string),
    functions: functions.rows.map((r) => `${r.name}:${r.body}`),
    events: events.rows.length,
  };
}

const missingOf = async (x: App) => (await x.capture.check()).map((c) => [...c.missing]);

beforeAll(async () => {
  stack = await engineStack('capture_apps_remove');
  p = players();
  s = sessions();
  apps = twoApps(stack, () => [p, s]);
  a = apps.instance('a');
  b = apps.instance('b');
  await a.migrate({ capture: true });
  await b.capture.install();
  for (const x of [a, b]) expect(await x.relayChanges()).toMatchObject({ status: 'applied' });
});
afterAll(async () => {
  for (const x of [a, b]) await x?.capture.remove();
  await apps?.close();
  await stack?.cleanup();
});

describe("A's remove with B still registered", () => {
  let installed: Awaited<ReturnType<typeof captureObjects>>;

  beforeAll(async () => {
    await a.set(p, { id: 'u1', username: 'u1', level: 1 });
    await b.set(p, { id: 'u2', username: 'u2', level: 1 });
    // Each hears the other's write while both are registered.
    for (const x of [a, b])
      expect(await x.relayChanges()).toEqual({ status: 'applied', changes: 1, gap: false });
    installed = await captureObjects();
    expect(installed.triggers).toHaveLength(8);
    expect(installed.functions).toHaveLength(3); // two tables' and the schema-change function
    expect(installed.events).toBe(1);
    await a.capture.remove();
  });

  it("unregisters A only: B's triggers, functions and event trigger stay", async () => {
    for (const schema of [p, s]) expect(await apps.registered(schema.identity)).toEqual([b.app]);
    const after = await captureObjects();
    expect(after.triggers).toEqual(installed.triggers);
    expect(after.events).toBe(1);
    const { rows } = await q(`select schema from "${stack.name}"."_strata_capture_tables" order by 1`);
    expect(rows.map((r) => r.schema)).toEqual([p.identity, s.identity]);
  });

  it('check(): A not registered, B installed', async () => {
    expect(await missingOf(a)).toEqual([
      [`app ${a.app} in _strata_capture_apps`],
      [`app ${a.app} in _strata_capture_apps`],
    ]);
    expect(await b.capture.check()).toEqual([
      { schema: p.identity, installed: true, missing: [], ddl: 'event-trigger' },
      { schema: s.identity, installed: true, missing: [], ddl: 'event-trigger' },
    ]);
  });

  it('leaves what a fresh install by B alone leaves', async () => {
    const now = await captureObjects();
    await b.capture.install();
    expect(await captureObjects()).toEqual(now);
  });

  it("B's own writes are quiet again: no log row, nothing for B's relay", async () => {
    expect((await b.get(p, 'u2')).level).toBe(1);
    const before = (await apps.logged(p.identity)).length;
    await b.set(p, { id: 'u2', username: 'u2', level: 2 });
    await b.setMany(p, [
      { id: 'u3', username: 'u3', level: 1 },
      { id: 'u4', username: 'u4', level: 1 },
    ]);
    await b.delete(p, 'u4');
    expect((await apps.logged(p.identity)).length).toBe(before);
    const reads = b.l3On('players');
    expect(await b.relayChanges()).toEqual({ status: 'applied', changes: 0, gap: false });
    expect((await b.get(p, 'u2')).level).toBe(2);
    expect(b.l3On('players') - reads).toBe(0);
  });

  it("B still hears outside writes and A's writes (A writes as itself, registered or not)", async () => {
    for (const id of ['u1', 'u2']) expect((await b.get(p, id)).level).toBeGreaterThan(0);
    await q(`update "${stack.name}".players set level = 40 where id = 'u2'`);
    await a.set(p, { id: 'u1', username: 'u1', level: 30 });
    expect((await apps.logged(p.identity)).slice(-2)).toEqual([
      { app: null, ids: ['u2'] },
      { app: a.app, ids: ['u1'] },
    ]);
    expect(await b.relayChanges()).toEqual({ status: 'applied', changes: 2, gap: false });
    expect((await b.get(p, 'u1')).level).toBe(30);
    expect((await b.get(p, 'u2')).level).toBe(40);
  });

  it('a second remove by A changes nothing', async () => {
    const now = await captureObjects();
    await a.capture.remove();
    expect(await captureObjects()).toEqual(now);
    expect(await apps.registered(p.identity)).toEqual([b.app]);
  });
});

describe("then B's remove, the last app's", () => {
  beforeAll(async () => {
    await b.capture.remove();
  });

  it('leaves nothing of capture: no trigger, function, event trigger, registration', async () => {
    expect(await captureObjects()).toEqual({ triggers: [], functions: [], events: 0 });
    for (const schema of [p, s]) expect(await apps.registered(schema.identity)).toEqual([]);
    const { rows } = await q(`select count(*)::int as n from "${stack.name}"."_strata_capture_tables"`);
    expect(rows[0].n).toBe(0);
    for (const x of [a, b]) expect((await x.capture.check()).some((c) => c.installed)).toBe(false);
  });

  it('tables and rows stay; an outside write is no longer logged', async () => {
    const before = (await apps.logged(p.identity)).length;
    await q(`update "${stack.name}".players set level = 41 where id = 'u2'`);
    expect((await apps.logged(p.identity)).length).toBe(before);
    const { rows } = await q(`select id, level from "${stack.name}".players order by id`);
    expect(rows).toEqual([
      { id: 'u1', level: 30 },
      { id: 'u2', level: 41 },
      { id: 'u3', level: 1 },
    ]);
  });

  it('installs again: B alone, then A beside it', async () => {
    await b.capture.install();
    expect((await b.capture.check()).every((c) => c.installed)).toBe(true);
    const before = (await apps.logged(p.identity)).length;
    await b.set(p, { id: 'u3', username: 'u3', level: 2 });
    expect((await apps.logged(p.identity)).length).toBe(before);
    await a.capture.install();
    for (const x of [a, b]) expect((await x.capture.check()).every((c) => c.installed)).toBe(true);
    await b.set(p, { id: 'u3', username: 'u3', level: 3 });
    expect((await apps.logged(p.identity)).at(-1)).toEqual({ app: b.app, ids: ['u3'] });
  });
});

describe('remove() without an app (the L3 seam, as callers from before the apps registry call it)', () => {
  it("ends every app's capture of the tables; registrations stay, and one app's install brings it back for both", async () => {
    for (const x of [a, b]) expect((await x.capture.check()).every((c) => c.installed)).toBe(true);
    await stack.l3.capture!.remove([p, s]);
    expect(await captureObjects()).toEqual({ triggers: [], functions: [], events: 0 });
    for (const schema of [p, s]) expect(await apps.registered(schema.identity)).toEqual([a.app, b.app]);
    await a.capture.install();
    for (const x of [a, b]) expect((await x.capture.check()).every((c) => c.installed)).toBe(true);
    await a.set(p, { id: 'u3', username: 'u3', level: 4 });
    expect((await apps.logged(p.identity)).at(-1)).toEqual({ app: a.app, ids: ['u3'] });
  });
});
