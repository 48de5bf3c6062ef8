import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CapturedChange, ChangeSource } from '../src/capture/types.js';
import type { DrizzleChangeSource } from '../src/drizzle/capture/source.js';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Change capture over real Postgres: "external" writes go through a plain `pg` client, as psql or
// another service would make them; Strata's own go through the engine.
let stack: EngineStack;
let strata: Strata;
let players: ReturnType<typeof playersSchema>;
let counters: ReturnType<typeof countersSchema>;
let source: DrizzleChangeSource;

const playersSchema = () => defineSchema({ table: stack.tables.players });
const countersSchema = () => defineSchema({ table: stack.tables.counters });

beforeAll(async () => {
  stack = await engineStack('capture_pg');
  players = playersSchema();
  counters = countersSchema();
  strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [players, counters],
  });
  await strata.migrate({ capture: true });
  source = stack.l3.capture!.source() as DrizzleChangeSource;
});
afterAll(async () => {
  await strata?.close();
  await stack?.cleanup();
});

const q = (text: string, values?: unknown[]) => stack.pool.query(text, values);
const table = (name: string) => `"${stack.name}"."${name}"`;

/** Every change from `cursor` on whose ids include one of `ids` (other tests' entries may be re-read). */
async function changesOf(cursor: string, ids: readonly string[], from: ChangeSource = source) {
  const page = await from.read(cursor);
  const mine = new Set(ids);
  return page.changes.filter((c) => c.ids?.some((id) => mine.has(id)));
}

async function versionRow(schema: { identity: string }, id: string) {
  const { rows } = await q(
    `select version::int as version, deleted from ${table('_strata_versions')} where schema = $1 and id = $2`,
    [schema.identity, id],
  );
  return rows[0] as { version: number; deleted: boolean } | undefined;
}

async function logRowsFor(ids: readonly string[]): Promise<number> {
  const { rows } = await q(
    `select count(*)::int as n from ${table('_strata_changes')} where ids && $1::text[]`,
    [ids],
  );
  return rows[0].n as number;
}

describe('external writes', () => {
  it('logs an INSERT, an UPDATE and a DELETE, each with the versions it bumped', async () => {
    const cursor = await source.start();
    await q(`insert into ${table('players')} (id, username) values ('e1', 'e1'), ('e2', 'e2')`);
    await q(`update ${table('players')} set level = 7 where id = 'e1'`);
    await q(`delete from ${table('players')} where id = 'e2'`);
    const expected: CapturedChange[] = [
      { schema: players.identity, op: 'insert', ids: ['e1', 'e2'], versions: [1, 1] },
      { schema: players.identity, op: 'update', ids: ['e1'], versions: [2] },
      { schema: players.identity, op: 'delete', ids: ['e2'], versions: [2] },
    ];
    expect(await changesOf(cursor, ['e1', 'e2'])).toEqual(expected);
    expect(await versionRow(players, 'e1')).toEqual({ version: 2, deleted: false });
    expect(await versionRow(players, 'e2')).toEqual({ version: 2, deleted: true });
    // Strata's L3 reads report the bumped version.
    const [stored] = await stack.l3.findMany(players, ['e1']);
    expect(stored).toMatchObject({ version: 2, row: { id: 'e1', level: 7 } });
  });

  it('logs a 1,000-row UPDATE as one entry with 1,000 ids, every version bumped', async () => {
    await q(`insert into ${table('counters')} (id, n) select g, 0 from generate_series(1, 1000) g`);
    const cursor = await source.start();
    await q(`update ${table('counters')} set n = n + 1`);
    const changes = (await source.read(cursor)).changes.filter(
      (c) => c.schema === counters.identity && c.op === 'update',
    );
    expect(changes).toHaveLength(1);
    const [change] = changes;
    expect(change!.ids).toHaveLength(1000);
    expect([...change!.ids!].map(Number).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    expect(new Set(change!.versions)).toEqual(new Set([2]));
    const { rows } = await q(
      `select count(*)::int as n, sum(version)::int as total from ${table('_strata_versions')} where schema = $1`,
      [counters.identity],
    );
    expect(rows[0]).toEqual({ n: 1000, total: 2000 });
    const found = await stack.l3.findMany(counters, [500]);
    expect(found[0]?.version).toBe(2);
  });

  it('logs a primary-key change as the old key deleted and the new one written', async () => {
    const cursor = await source.start();
    await q(`update ${table('counters')} set id = 100005 where id = 5`);
    expect(await changesOf(cursor, ['5'])).toEqual([
      { schema: counters.identity, op: 'update', ids: ['100005', '5'], versions: [1, 3] },
    ]);
    expect(await versionRow(counters, '5')).toEqual({ version: 3, deleted: true });
    expect(await versionRow(counters, '100005')).toEqual({ version: 1, deleted: false });
  });

  it('logs a TRUNCATE as one entry without ids', async () => {
    const cursor = await source.start();
    await q(`truncate ${table('counters')}`);
    const truncates = (await source.read(cursor)).changes.filter((c) => c.op === 'truncate');
    expect(truncates).toEqual([{ schema: counters.identity, op: 'truncate', ids: null, versions: null }]);
  });
});

describe('a table changed by DDL after install', () => {
  it('an added column (as drizzle-kit push adds one) keeps the capture, and check() still reports it complete', async () => {
    await strata.set(counters, { id: 8801, n: 1 });
    await q(`alter table ${table('counters')} add column if not exists note text`);
    const cursor = await source.start();
    await q(`update ${table('counters')} set note = 'outside', n = 2 where id = 8801`);
    expect(await changesOf(cursor, ['8801'])).toEqual([
      { schema: counters.identity, op: 'update', ids: ['8801'], versions: [2] },
    ]);
    expect((await strata.capture.check()).every((c) => c.installed)).toBe(true);
    const before = await source.start();
    await strata.set(counters, { id: 8801, n: 3 }); // Strata's write, unaware of the column: not logged
    expect(await changesOf(before, ['8801'])).toEqual([]);
    expect(await versionRow(counters, '8801')).toEqual({ version: 3, deleted: false });
  });
});

describe("Strata's own writes", () => {
  it('log nothing and bump each version once: set, setMany, delete, a transaction', async () => {
    const cursor = await source.start();
    await strata.set(players, { id: 's1', username: 's1' }); // one statement: versions in a CTE
    await strata.set(players, { id: 's1', username: 's1', level: 2 });
    await strata.setMany(players, [
      { id: 's2', username: 's2' },
      { id: 's3', username: 's3' },
    ]);
    await strata.delete(players, 's3');
    await strata
      .tx()
      .set(players, { id: 's2', username: 's2', level: 5 })
      .set(counters, { id: 7007, n: 7 })
      .commit();
    const ids = ['s1', 's2', 's3', '7007'];
    expect(await changesOf(cursor, ids)).toEqual([]);
    expect(await logRowsFor(ids)).toBe(0);
    expect(await versionRow(players, 's1')).toEqual({ version: 2, deleted: false });
    expect(await versionRow(players, 's2')).toEqual({ version: 2, deleted: false });
    expect(await versionRow(players, 's3')).toEqual({ version: 2, deleted: true });
    expect((await versionRow(counters, '7007'))?.version).toBe(1);
  });

  it('an external write after a Strata write of the key is logged with the next version', async () => {
    await strata.set(players, { id: 's4', username: 's4' });
    const cursor = await source.start();
    await q(`update ${table('players')} set level = 9 where id = 's4'`);
    expect(await changesOf(cursor, ['s4'])).toEqual([
      { schema: players.identity, op: 'update', ids: ['s4'], versions: [2] },
    ]);
  });
});

describe('reading in commit order', () => {
  it('reads a transaction that commits after a later one, on the next read', async () => {
    await q(`insert into ${table('players')} (id, username) values ('oA', 'oA'), ('oB', 'oB')`);
    const cursor = await source.start();
    const a = await stack.pool.connect();
    try {
      await a.query('begin');
      await a.query(`update ${table('players')} set level = 2 where id = 'oA'`);
      const xidA = BigInt((await a.query('select pg_current_xact_id()::text as x')).rows[0].x);
      await q(`update ${table('players')} set level = 3 where id = 'oB'`);
      const first = await source.read(cursor);
      const seen = first.changes.flatMap((c) => c.ids ?? []);
      expect(seen).toContain('oB');
      expect(seen).not.toContain('oA');
      // The cursor is the read's snapshot, in which the open transaction was still in progress.
      const [xmin, , inProgress] = first.cursor.split(':');
      expect(BigInt(xmin!) <= xidA).toBe(true);
      expect(inProgress!.split(',')).toContain(String(xidA));
      await a.query('commit');
      const second = await source.read(first.cursor);
      expect(second.changes.filter((c) => c.ids?.includes('oA'))).toEqual([
        { schema: players.identity, op: 'update', ids: ['oA'], versions: [2] },
      ]);
      // Exactly once: what the first read returned is not read again, though A held xmin back.
      expect(second.changes.filter((c) => c.ids?.includes('oB'))).toEqual([]);
    } finally {
      await a.query('rollback').catch(() => {}); // nothing open goes back to the pool
      a.release();
    }
  });

  it('pages past 1,000 entries in one read', async () => {
    const cursor = await source.start();
    const client = await stack.pool.connect();
    try {
      // 1,201 statements, each its own entry (one transaction: fast; a savepoint-free block).
      await client.query('begin');
      await client.query(`insert into ${table('counters')} (id, n) values (-1, 0) on conflict do nothing`);
      for (let i = 0; i < 1200; i++)
        await client.query(`update ${table('counters')} set n = n + 1 where id = -1`);
      await client.query('commit');
    } finally {
      client.release();
    }
    const mine = (await source.read(cursor)).changes.filter((c) => c.ids?.includes('-1'));
    expect(mine).toHaveLength(1201);
    // Each statement's block is a subtransaction of its own: every statement bumps and logs.
    expect(mine.at(-1)!.versions).toEqual([1201]);
  });
});
