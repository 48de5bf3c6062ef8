import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrizzleChangeSource } from '../src/drizzle/capture/source.js';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import type { L3Tier } from '../src/l3/types.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Install / check / remove of change capture, a trigger that fails, and a gap in the log.
let stack: EngineStack;
let strata: Strata;
let players: ReturnType<typeof defineSchema>;
let source: DrizzleChangeSource;

beforeAll(async () => {
  stack = await engineStack('capture_admin');
  players = defineSchema({ table: stack.tables.players });
  const sessions = defineSchema({ table: stack.tables.sessions });
  strata = new Strata({ l3: stack.l3, schemas: [players, sessions] });
  await strata.migrate();
  source = stack.l3.capture!.source() as DrizzleChangeSource;
});
afterAll(async () => {
  await strata?.close();
  await stack?.cleanup();
});

const q = (text: string, values?: unknown[]) => stack.pool.query(text, values);
const table = (name: string) => `"${stack.name}"."${name}"`;

/** What capture put in the database: trigger names and definitions, and function bodies. */
async function installedState() {
  const triggers = await q(
    `select tgrelid::regclass::text as rel, tgname, pg_get_triggerdef(oid) as def from pg_trigger where tgrelid in ($1::regclass, $2::regclass) and not tgisinternal order by 1, 2`,
    [table('players'), table('sessions')],
  );
  const functions = await q(
    `select proname, prosrc from pg_proc where pronamespace = $1::regnamespace and proname like '\\_strata\\_capture\\_%' order by 1`,
    [`"${stack.name}"`],
  );
  return { triggers: triggers.rows, functions: functions.rows };
}

describe('install, check, remove', () => {
  it('check reports everything missing before install', async () => {
    const report = await strata.capture.check();
    expect(report.map((r) => r.schema)).toEqual([`${stack.name}.players`, `${stack.name}.sessions`]);
    expect(report[0]!.installed).toBe(false);
    expect(report[0]!.missing).toEqual([
      'table _strata_changes',
      'table _strata_changes_meta',
      'table _strata_capture_apps',
      expect.stringMatching(/^function _strata_capture_[0-9a-f]{16}$/),
      'trigger _strata_capture_insert',
      'trigger _strata_capture_update',
      'trigger _strata_capture_delete',
      'trigger _strata_capture_truncate',
      'table _strata_capture_tables',
    ]);
    expect(report[0]!.ddl).toBe('fingerprint');
  });

  it('install is idempotent: twice leaves the same state, and check finds it complete', async () => {
    await strata.capture.install();
    const once = await installedState();
    expect(once.triggers).toHaveLength(8);
    expect(once.functions).toHaveLength(2);
    await strata.capture.install();
    expect(await installedState()).toEqual(once);
    expect(await strata.capture.check()).toEqual([
      { schema: `${stack.name}.players`, installed: true, missing: [], ddl: 'event-trigger' },
      { schema: `${stack.name}.sessions`, installed: true, missing: [], ddl: 'event-trigger' },
    ]);
  });

  it('check names a trigger dropped or disabled by hand, and install puts it back', async () => {
    await q(`drop trigger _strata_capture_delete on ${table('players')}`);
    await q(`alter table ${table('sessions')} disable trigger _strata_capture_insert`);
    const [p, s] = await strata.capture.check();
    expect(p).toEqual({
      schema: `${stack.name}.players`,
      installed: false,
      missing: ['trigger _strata_capture_delete'],
      ddl: 'event-trigger',
    });
    expect(s!.missing).toEqual(['trigger _strata_capture_insert (disabled)']);
    // CREATE OR REPLACE TRIGGER enables a disabled trigger too.
    await strata.capture.install();
    expect((await strata.capture.check()).every((c) => c.installed)).toBe(true);
  });

  it('remove drops triggers and functions only: the table and its rows stay', async () => {
    await q(`insert into ${table('players')} (id, username) values ('r1', 'r1'), ('r2', 'r2')`);
    await strata.capture.remove();
    expect(await installedState()).toEqual({ triggers: [], functions: [] });
    const { rows } = await q(`select id from ${table('players')} order by id`);
    expect(rows.map((r) => r.id)).toEqual(['r1', 'r2']);
    expect((await strata.capture.check())[0]!.installed).toBe(false);
    // Without triggers an external write is not logged.
    const cursor = await source.start();
    await q(`update ${table('players')} set level = 4 where id = 'r1'`);
    expect((await source.read(cursor)).changes.filter((c) => c.ids?.includes('r1'))).toEqual([]);
    await strata.capture.remove(); // idempotent
    await strata.capture.install();
  });

  it('refuses with INVALID_CONFIG an L3 without capture', async () => {
    // The same L3 with no `capture` member, as an L3 of another kind would be.
    const plain = new Proxy(stack.l3, {
      get: (target, prop) => {
        if (prop === 'capture') return undefined;
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as L3Tier;
    const bare = new Strata({ l3: plain, schemas: [players] });
    const error = await bare.capture.check().catch((e: unknown) => e);
    expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
    await bare.close();
  });
});

describe('a trigger that fails', () => {
  it("warns and lets the user's UPDATE commit, logging nothing", async () => {
    await q(`insert into ${table('players')} (id, username) values ('f1', 'f1')`);
    const before = await q(`select version from ${table('_strata_versions')} where id = 'f1'`);
    // The log refuses the entry: the trigger's insert fails inside the user's statement.
    await q(
      `alter table ${table('_strata_changes')} add constraint capture_test_refuses check (op <> 'update') not valid`,
    );
    const warnings: string[] = [];
    const client = await stack.pool.connect();
    client.on('notice', (notice) => warnings.push(String(notice.message)));
    try {
      const cursor = await source.start();
      const result = await client.query(`update ${table('players')} set level = 42 where id = 'f1'`);
      expect(result.rowCount).toBe(1);
      const { rows } = await q(`select level from ${table('players')} where id = 'f1'`);
      expect(rows[0].level).toBe(42);
      expect(warnings.some((w) => w.includes('strata change capture') && w.includes('23514'))).toBe(true);
      expect((await source.read(cursor)).changes.filter((c) => c.ids?.includes('f1'))).toEqual([]);
      // Its version bump went with the failed entry (one block): nothing half-done.
      const after = await q(`select version from ${table('_strata_versions')} where id = 'f1'`);
      expect(after.rows).toEqual(before.rows);
    } finally {
      client.release();
      await q(`alter table ${table('_strata_changes')} drop constraint capture_test_refuses`);
    }
  });
});

describe('a trigger that cannot lock a version row', () => {
  it("neither fails nor waits on the user's statement: it logs the key one version ahead, and the user's lock_timeout stays", async () => {
    await q(`insert into ${table('players')} (id, username) values ('l1', 'l1')`);
    const holder = await stack.pool.connect();
    const writer = await stack.pool.connect();
    try {
      // Another transaction holds the key's version row, as a concurrent Strata write would.
      await holder.query('begin');
      await holder.query(`select 1 from ${table('_strata_versions')} where id = 'l1' for update`);
      await writer.query(`set lock_timeout = '5s'`);
      const cursor = await source.start();
      await writer.query(`update ${table('players')} set level = 5 where id = 'l1'`);
      expect((await writer.query('show lock_timeout')).rows).toEqual([{ lock_timeout: '5s' }]);
      const page = await source.read(cursor);
      expect(page.changes.filter((c) => c.ids?.includes('l1')).map((c) => c.versions)).toEqual([[2]]);
      await holder.query('rollback');
      const { rows } = await q(`select level from ${table('players')} where id = 'l1'`);
      expect(rows[0].level).toBe(5);
    } finally {
      // A pooled connection goes back as it came.
      await writer.query('reset lock_timeout');
      holder.release();
      writer.release();
    }
  });
});

describe('retention', () => {
  it('a prune past an unread entry makes the next read report a gap', async () => {
    const cursor = await source.start();
    await q(`insert into ${table('players')} (id, username) values ('g1', 'g1')`);
    // Entries older than 0 ms: every committed one.
    const { deleted } = await source.prune(0);
    expect(deleted).toBeGreaterThanOrEqual(1);
    const page = await source.read(cursor);
    expect(page.gap).toBe(true);
    expect(page.changes.filter((c) => c.ids?.includes('g1'))).toEqual([]);
    // Read from a cursor past the prune: no gap.
    const later = await source.read(await source.start());
    const { rows } = await q(`select pruned_xid::text as x from ${table('_strata_changes_meta')}`);
    expect(later.gap).toBe(BigInt(later.cursor.split(':')[0]!) <= BigInt(rows[0].x));
  });

  it('refuses a cursor that is not one', async () => {
    const error = await source.read('12; drop table x').catch((e: unknown) => e);
    expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
  });
});
