import { eq } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, isStrataError, type L2Tier, Q, Strata, type StrataConfig } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL2Run } from './support/wrap.js';

let stack: EngineStack;
let items: ReturnType<typeof itemsTable>;
const itemsTable = (pg: string) =>
  pgSchema(pg).table('items', { id: text('id').primaryKey(), level: integer('level').notNull() });

beforeAll(async () => {
  stack = await engineStack('reg_tx');
  items = itemsTable(stack.name);
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: items })] }).migrate();
});
afterAll(() => stack?.cleanup());

const instance = (config: Partial<StrataConfig>) =>
  new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    writeBehind: { queue: createMemoryQueue() },
    ...config,
  });

async function itemInPostgres(id: string) {
  const [row] = await stack.db.select().from(items).where(eq(items.id, id));
  return row;
}

/** The real L2, except that once `refuse.on` is set its write-behind-style (ordered) writes fail. */
function refusingOrderedPuts(refuse: { on: boolean }): L2Tier {
  return wrapL2Run(stack.l2, (script, _keys, run) =>
    refuse.on && script.name === 'ordered-put' ? Promise.reject(new Error('L2 refuses this write')) : run(),
  );
}

describe('transactions', () => {
  it('issue 12 item 5: a transaction over a queued older write-behind write of the same key wins after the flush', async () => {
    const schema = defineSchema({ table: items, writeMode: 'write-behind' });
    const queue = createMemoryQueue();
    const writer = instance({ writeBehind: { queue }, schemas: [schema] });
    await writer.set(schema, { id: 't1', level: 1 }); // queued, not flushed
    await writer.tx().set(schema, { id: 't1', level: 2 }).commit();
    await writer.flushDirty();

    expect((await itemInPostgres('t1'))?.level).toBe(2);
    expect((await writer.get(schema, 't1')).level).toBe(2);
    const fresh = instance({ schemas: [schema] });
    expect((await fresh.get(schema, 't1')).level).toBe(2);
    expect(fresh.stats().hits.l2).toBe(1);
    const listed = await writer.searchCached(schema, Q().where('id = $1', 't1').build());
    expect(listed.map((r) => r.level)).toEqual([2]);
  });

  it('issue 12 item 19: a transaction with an `l3: false` schema commits both; the session is readable elsewhere', async () => {
    const players = defineSchema({ table: items });
    const sessions = defineSchema({ table: stack.tables.sessions, l3: false });
    const strata = instance({ schemas: [players, sessions] });
    await strata
      .tx()
      .set(players, { id: 'u1', level: 7 })
      .set(sessions, { id: 's1', userId: 'u1', data: { cart: [1] } })
      .commit();
    expect((await itemInPostgres('u1'))?.level).toBe(7);
    const other = instance({ schemas: [players, sessions] });
    expect(await other.get(sessions, 's1')).toEqual({ id: 's1', userId: 'u1', data: { cart: [1] } });
    expect((await other.get(players, 'u1')).level).toBe(7);
  });

  it('issue 12 item 19: L2 refusing the session after the commit: L2_UNAVAILABLE, committed, the L3 row in Postgres', async () => {
    const players = defineSchema({ table: items });
    const sessions = defineSchema({ table: stack.tables.sessions, l3: false });
    const refuse = { on: false };
    const strata = instance({ l2: refusingOrderedPuts(refuse), schemas: [players, sessions] });
    refuse.on = true;
    const err = await strata
      .tx()
      .set(players, { id: 'u2', level: 8 })
      .set(sessions, { id: 's2', userId: 'u2' })
      .commit()
      .catch((e: unknown) => e);
    refuse.on = false;
    expect(isStrataError(err, 'L2_UNAVAILABLE')).toBe(true);
    expect((err as { details: Record<string, unknown> }).details).toMatchObject({
      committed: true,
      keys: ['s2'],
    });
    expect((await itemInPostgres('u2'))?.level).toBe(8);
    expect((await instance({ schemas: [players] }).get(players, 'u2')).level).toBe(8);
    expect(await instance({ schemas: [sessions] }).find(sessions, 's2')).toBeNull();
  });
});
