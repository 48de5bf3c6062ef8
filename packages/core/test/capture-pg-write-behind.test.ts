import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChanges } from '../src/admin.js';
import type { DrizzleChangeSource } from '../src/drizzle/capture/source.js';
import { defineSchema, Strata } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';

// A write-behind table's versions come from a Redis counter: an outside write must not take one of
// its numbers, or the next queued write of the key is refused at its flush as not newer.
let stack: EngineStack;
let strata: Strata;
let source: DrizzleChangeSource;
const schema = () => defineSchema({ table: stack.tables.players, writeMode: 'write-behind' });
let players: ReturnType<typeof schema>;

beforeAll(async () => {
  stack = await engineStack('capture_wb');
  players = schema();
  strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [players],
    writeBehind: { queue: createMemoryQueue() },
  });
  await strata.migrate({ capture: true });
  source = stack.l3.capture!.source() as DrizzleChangeSource;
});
afterAll(async () => {
  await strata?.close();
  await stack?.cleanup();
});

const table = (name: string) => `"${stack.name}"."${name}"`;
async function storedVersion(id: string): Promise<number> {
  const { rows } = await stack.pool.query(
    `select version::text as v from ${table('_strata_versions')} where schema = $1 and id = $2`,
    [players.identity, id],
  );
  return Number(rows[0].v);
}
async function level(id: string) {
  const [row] = await stack.db.select().from(stack.tables.players).where(eq(stack.tables.players.id, id));
  return row?.level;
}

describe('change capture of a write-behind table', () => {
  it('logs an outside write with the version the key holds, bumping none', async () => {
    await strata.set(players, { id: 'wb1', username: 'wb1', level: 1 });
    await strata.flushDirty();
    const flushed = await storedVersion('wb1');
    const cursor = await source.start();
    await stack.pool.query(`update ${table('players')} set level = 50 where id = 'wb1'`);
    const page = await source.read(cursor);
    expect(page.changes.filter((c) => c.ids?.includes('wb1'))).toEqual([
      { schema: players.identity, op: 'update', ids: ['wb1'], versions: [flushed] },
    ]);
    expect(await storedVersion('wb1')).toBe(flushed);
  });

  it('applied, the outside write replaces the cached copy at the same version; a pending row stays', async () => {
    await strata.set(players, { id: 'wb3', username: 'wb3', level: 1 });
    await strata.flushDirty();
    const uncached = defineSchema({ table: stack.tables.players, writeMode: 'write-behind', l1: false });
    const reader = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      schemas: [uncached],
      writeBehind: { queue: createMemoryQueue() },
    });
    expect((await reader.get(uncached, 'wb3')).level).toBe(1); // cached in L2 at the flushed version
    const cursor = await source.start();
    await stack.pool.query(`update ${table('players')} set level = 70 where id = 'wb3'`);
    await strata.set(players, { id: 'wb4', username: 'wb4', level: 4 }); // pending, not flushed
    await stack.pool.query(
      `insert into ${table('players')} (id, username, level) values ('wb4', 'wb4', 80) on conflict (id) do update set level = 80`,
    );
    await applyChanges(strata, (await source.read(cursor)).changes);
    expect((await reader.get(uncached, 'wb3')).level).toBe(70);
    expect((await reader.get(uncached, 'wb4')).level).toBe(4); // the queued write is still what reads see
    await strata.flushDirty();
    expect(await level('wb4')).toBe(4); // and it wins at its flush
    await reader.close();
  });

  it('a write queued after an outside write of the key lands at its flush', async () => {
    // The key is the last the counter numbered, so the next queued write takes the next number:
    // the one a bump of the outside write would have taken.
    await strata.set(players, { id: 'wb2', username: 'wb2', level: 1 });
    await strata.flushDirty();
    const flushed = await storedVersion('wb2');
    await stack.pool.query(`update ${table('players')} set level = 60 where id = 'wb2'`);
    await strata.set(players, { id: 'wb2', username: 'wb2', level: 2 });
    await strata.flushDirty();
    expect(await level('wb2')).toBe(2);
    expect(await storedVersion('wb2')).toBe(flushed + 1);
    expect(strata.stats().dirtyCount).toBe(0);
  });

  it('bumps or not by the writer claim the table has now, else by the mode it was installed for', async () => {
    // The trigger reads `_strata_writers` when an outside statement has keys to log (a claim
    // rewritten by hand here: what another deploy's claim would leave). Last in the file: it
    // puts the claim back before it ends.
    await strata.set(players, { id: 'wm1', username: 'wm1', level: 1 });
    await strata.flushDirty();
    const flushed = await storedVersion('wm1');
    const claim = (set: string) =>
      stack.pool.query(`update ${table('_strata_writers')} set ${set} where schema = $1`, [players.identity]);
    const outside = (level: number) =>
      stack.pool.query(`update ${table('players')} set level = $1 where id = 'wm1'`, [level]);
    try {
      await claim(`expires_at = now() - interval '1 hour'`); // lapsed write-behind: writes may be queued
      await outside(11);
      expect(await storedVersion('wm1')).toBe(flushed);
      await claim(`mode = 'write-through'`); // the app now writes through: outside writes bump
      await outside(12);
      expect(await storedVersion('wm1')).toBe(flushed + 1);
      const { rows } = await stack.pool.query(
        `delete from ${table('_strata_writers')} where schema = $1 returning *`,
        [players.identity],
      );
      await outside(13); // no claim: the mode capture was installed for (write-behind)
      expect(await storedVersion('wm1')).toBe(flushed + 1);
      await stack.pool.query(
        `insert into ${table('_strata_writers')} (schema, owner, mode, seeded, expires_at) values ($1, $2, $3, $4, $5)`,
        [rows[0].schema, rows[0].owner, rows[0].mode, rows[0].seeded, rows[0].expires_at],
      );
    } finally {
      await claim(`mode = 'write-behind', expires_at = now() + interval '60 s'`);
    }
  });
});
