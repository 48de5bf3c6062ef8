import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeCapture, changeCaptureWith, createDrizzleL3 } from '../src/drizzle/index.js';
import { changeRelay, defineSchema, Q, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { playerTables } from './support/tables.js';

// Schema changes of captured tables, as a superuser installs capture: the event trigger logs an
// ALTER TABLE as it commits. DDL goes through a plain `pg` client, as psql or a migration makes it.
let stack: EngineStack;
let strata: Strata;
let players: ReturnType<typeof defineSchema>;

beforeAll(async () => {
  stack = await engineStack('capture_ddl');
  players = defineSchema({ table: stack.tables.players });
  strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [players, defineSchema({ table: stack.tables.sessions })],
    capture: { relay: changeRelay({ interval: '1h' }) },
  });
  await strata.migrate({ capture: true });
  await strata.relayChanges(); // the first poll stores the cursor (a gap): later ones read from it
});
afterAll(async () => {
  await strata?.close();
  await stack?.cleanup();
});

const q = (text: string, values?: unknown[]) => stack.pool.query(text, values);
const table = (name: string) => `"${stack.name}"."${name}"`;
const ddlEntries = async () =>
  (await q(`select schema from ${table('_strata_changes')} where op = 'ddl' order by seq`)).rows.map(
    (r) => r.schema as string,
  );
/** The event triggers whose function is in `pgSchema`. */
const eventTriggers = async (pgSchema: string) =>
  (
    await q(
      `select e.oid::int as oid, evtname, evtenabled, evttags from pg_event_trigger e join pg_proc p on p.oid = e.evtfoid where p.pronamespace = $1::regnamespace`,
      [`"${pgSchema}"`],
    )
  ).rows;
const byId = (id: string) => Q().where('id = $1', id).build();

describe('install, check', () => {
  it('one event trigger, named for this Strata schema, on ALTER TABLE only; twice leaves the same', async () => {
    const once = await eventTriggers(stack.name);
    expect(once).toEqual([
      {
        oid: expect.any(Number),
        evtname: expect.stringMatching(/^_strata_schema_changes_[0-9a-f]{16}$/),
        evtenabled: 'O',
        evttags: ['ALTER TABLE'],
      },
    ]);
    await strata.capture.install();
    expect(await eventTriggers(stack.name)).toEqual(once);
    for (const c of await strata.capture.check()) {
      expect(c).toMatchObject({ installed: true, missing: [], ddl: 'event-trigger' });
    }
  });
});

describe('schema changes of a captured table', () => {
  it('ALTER COLUMN TYPE USING is logged as it commits; after a relay no cached row or search serves the old value', async () => {
    await strata.set(players, { id: 'd1', username: 'd1', level: 2, notes: 'quiet' });
    expect((await strata.get(players, 'd1')).notes).toBe('quiet');
    expect((await strata.searchCached(players, byId('d1'))).map((r) => r.notes)).toEqual(['quiet']);
    const before = await ddlEntries();
    await q(`alter table ${table('players')} alter column notes type varchar(200) using upper(notes)`);
    expect(await ddlEntries()).toEqual([...before, players.identity]);
    // Counted in the log, not in what a read returns: a transaction open anywhere on the server
    // makes a read return entries again (harmless, but not a count to assert).
    expect(await strata.relayChanges()).toMatchObject({ status: 'applied', gap: false });
    // One entry: the event trigger moved the fingerprint on, so the source's check logged no second.
    expect(await ddlEntries()).toEqual([...before, players.identity]);
    expect((await strata.get(players, 'd1')).notes).toBe('QUIET');
    expect((await strata.searchCached(players, byId('d1'))).map((r) => r.notes)).toEqual(['QUIET']);
  });

  it('a rewrite that keeps the type, a column added with a default, a rename of the table: one entry each', async () => {
    const before = await ddlEntries();
    await q(`alter table ${table('players')} alter column level type integer using level * 10`);
    await q(`alter table ${table('players')} add column extra int not null default 7`);
    await q(`alter table ${table('players')} rename to players_x`);
    await q(`alter table ${table('players_x')} rename to players`);
    expect(await ddlEntries()).toEqual([...before, ...Array(4).fill(players.identity)]);
    expect(await strata.relayChanges()).toMatchObject({ status: 'applied', gap: false });
    expect(await ddlEntries()).toHaveLength(before.length + 4);
    expect((await strata.get(players, 'd1')).level).toBe(20);
  });

  it('logs nothing for DDL on a table capture does not know, nor for DDL other than ALTER TABLE', async () => {
    const before = await ddlEntries();
    await q(`create table ${table('elsewhere')} (id int primary key)`);
    await q(`alter table ${table('elsewhere')} add column x int`);
    await q(`alter table ${table('elsewhere')} alter column x type bigint using x * 2`);
    await q(`create index on ${table('players')} (level)`);
    expect(await ddlEntries()).toEqual(before);
    expect(await strata.relayChanges()).toMatchObject({ status: 'applied', gap: false });
    expect(await ddlEntries()).toEqual(before);
  });

  it('a failing event trigger warns and lets the DDL commit; the fingerprint check logs it later', async () => {
    await q(
      `alter table ${table('_strata_changes')} add constraint ddl_test_refuses check (op <> 'ddl') not valid`,
    );
    const warnings: string[] = [];
    const client = await stack.pool.connect();
    client.on('notice', (notice) => warnings.push(String(notice.message)));
    const before = await ddlEntries();
    try {
      await client.query(`alter table ${table('players')} alter column notes type text using lower(notes)`);
    } finally {
      client.release();
      await q(`alter table ${table('_strata_changes')} drop constraint ddl_test_refuses`);
    }
    expect(warnings.some((w) => w.includes('strata change capture of a schema change failed'))).toBe(true);
    expect(await ddlEntries()).toEqual(before);
    // A source that checks on every read (this app's checks once a minute) finds the change.
    const l3 = createDrizzleL3(stack.db, {
      migrationsSchema: stack.name,
      capture: changeCaptureWith({ schemaCheckInterval: 0 }),
    });
    const source = l3.capture!.source();
    const page = await source.read(await source.start());
    expect(page.changes).toContainEqual({ schema: players.identity, op: 'ddl', ids: null, versions: null });
    expect(await ddlEntries()).toEqual([...before, players.identity]);
    expect(await strata.relayChanges()).toMatchObject({ status: 'applied', gap: false });
    expect((await strata.get(players, 'd1')).notes).toBe('quiet');
  });
});

describe('two Strata schemas in one database', () => {
  it("remove drops this schema's event trigger only; the other app's keeps logging", async () => {
    const other = `${stack.name}_b`;
    const otherPlayers = defineSchema({ table: playerTables(other).players });
    const l3 = createDrizzleL3(stack.db, { migrationsSchema: other, capture: changeCapture });
    const b = new Strata({ l3, schemas: [otherPlayers] });
    try {
      await b.migrate({ capture: true });
      const mine = await eventTriggers(stack.name);
      const theirs = await eventTriggers(other);
      expect(theirs).toHaveLength(1);
      expect(theirs[0].evtname).not.toBe(mine[0].evtname);
      await b.capture.remove();
      await b.capture.remove(); // idempotent
      expect(await eventTriggers(other)).toEqual([]);
      expect(await eventTriggers(stack.name)).toEqual(mine);
      const before = await ddlEntries();
      await q(`alter table ${table('players')} alter column extra set default 8`);
      expect(await ddlEntries()).toEqual([...before, players.identity]);
      // Nothing of theirs is logged any more, by the trigger or the check.
      await q(`alter table "${other}"."players" add column extra int`);
      const page = await l3.capture!.source().read('0');
      expect(page.changes.filter((c) => c.op === 'ddl')).toEqual([]);
    } finally {
      await b.close();
      await q(`drop schema if exists "${other}" cascade`);
    }
  });

  it('remove with the last captured table drops the event trigger; check says so; install brings it back', async () => {
    await strata.capture.remove();
    expect(await eventTriggers(stack.name)).toEqual([]);
    const [c] = await strata.capture.check();
    expect(c).toMatchObject({ installed: false, ddl: 'fingerprint' });
    expect(c!.missing).toContain('row in _strata_capture_tables');
    await strata.capture.install();
    expect(await eventTriggers(stack.name)).toHaveLength(1);
    expect((await strata.capture.check()).map((r) => r.ddl)).toEqual(['event-trigger', 'event-trigger']);
  });

  it('an install from before schema changes were captured (no registry) still passes row changes on', async () => {
    await q(`drop table ${table('_strata_capture_tables')}`);
    expect((await strata.capture.check()).every((c) => !c.installed)).toBe(true);
    await q(`insert into ${table('players')} (id, username, level) values ('up1', 'up1', 1)`);
    // A source whose every read checks definitions first: the check finds no registry, the read goes on.
    const l3 = createDrizzleL3(stack.db, {
      migrationsSchema: stack.name,
      capture: changeCaptureWith({ schemaCheckInterval: 0 }),
    });
    const page = await l3.capture!.source().read('0');
    expect(page.changes.some((c) => c.op === 'insert' && c.ids?.includes('up1'))).toBe(true);
    await strata.capture.install(); // the upgrade: the registry is back, and the check with it
    expect((await strata.capture.check()).every((c) => c.installed)).toBe(true);
  });
});
