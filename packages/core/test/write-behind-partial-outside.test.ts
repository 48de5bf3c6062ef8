import { eq, sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, Q, Strata } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';

/*
 * A partial write-behind set queues only the columns Strata writes sent (its own over those of the
 * key's still-queued writes), never a column it read from an L2 copy or Postgres to answer `get`:
 * a change a writer outside Strata made to another column (here a plain SQL UPDATE on the test's own
 * connection) survives the flush, as it survives a write-through upsert of the sent columns. Before
 * the fix the merged whole row was queued and the flush wrote the stale column back.
 */
let stack: EngineStack;
let strata: Strata;
let schema: ReturnType<typeof behind>;
const itemsTable = (name: string) =>
  pgSchema(name).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    note: text('note'),
    extra: text('extra'),
  });
let items: ReturnType<typeof itemsTable>;
const behind = () => defineSchema({ table: items, writeMode: 'write-behind' });

beforeAll(async () => {
  stack = await engineStack('wb_outside');
  items = itemsTable(stack.name);
  schema = behind();
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: items })] }).migrate();
  strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [schema],
    writeBehind: { queue: createMemoryQueue() },
  });
});
afterAll(async () => {
  await strata?.close();
  await stack?.cleanup();
});

/** A writer outside Strata: a plain UPDATE, which no Strata tier hears of. */
async function outside(id: string, column: 'note' | 'extra', value: string): Promise<void> {
  const table = sql`${sql.identifier(stack.name)}.${sql.identifier('items')}`;
  const result = await stack.db.execute(
    sql`update ${table} set ${sql.identifier(column)} = ${value} where id = ${id}`,
  );
  expect(result.rowCount).toBe(1);
}

async function stored(id: string) {
  const [row] = await stack.db.select().from(items).where(eq(items.id, id));
  return row;
}

const search = (id: string) => strata.search(schema, Q().where('id = $1', id).build());

describe('write-behind partial sets never write a column they did not send into Postgres', () => {
  it('over a fresh L2 copy: an outside change to another column, made before the set, survives the flush', async () => {
    await strata.set(schema, { id: 'c1', n: 1, note: 'a', extra: 'x' });
    await strata.flushDirty();
    expect(await strata.get(schema, 'c1')).toMatchObject({ note: 'a' }); // cached fresh in L2
    await outside('c1', 'note', 'outside');
    await strata.set(schema, { id: 'c1', n: 2 });
    // get answers the merged row over the L2 copy (it never saw the outside change)...
    expect(await strata.get(schema, 'c1')).toEqual({ id: 'c1', n: 2, note: 'a', extra: 'x' });
    // ...a search lays the queued columns over Postgres's row: as the flush will leave it.
    expect(await search('c1')).toEqual([{ id: 'c1', n: 2, note: 'outside', extra: 'x' }]);
    await strata.flushDirty();
    expect(await stored('c1')).toEqual({ id: 'c1', n: 2, note: 'outside', extra: 'x' });
    expect(await strata.get(schema, 'c1')).toEqual({ id: 'c1', n: 2, note: 'outside', extra: 'x' });
  });

  it('over Postgres (not cached): an outside change made after the set was acknowledged survives the flush', async () => {
    await stack.db.insert(items).values({ id: 'c2', n: 1, note: 'a', extra: 'x' });
    stack.reset();
    await strata.set(schema, { id: 'c2', n: 2 });
    // The base was read from Postgres (nothing cached).
    expect(stack.statementsOn('items').filter((s) => s.startsWith('select'))).toHaveLength(1);
    expect(await strata.get(schema, 'c2')).toEqual({ id: 'c2', n: 2, note: 'a', extra: 'x' });
    await outside('c2', 'note', 'outside');
    expect(await search('c2')).toEqual([{ id: 'c2', n: 2, note: 'outside', extra: 'x' }]);
    await strata.flushDirty();
    expect(await stored('c2')).toEqual({ id: 'c2', n: 2, note: 'outside', extra: 'x' });
  });

  it('over queued partial sets: the fold carries their columns only, not the ones they were merged over', async () => {
    await strata.set(schema, { id: 'c3', n: 1, note: 'a', extra: 'x' });
    await strata.flushDirty();
    await strata.set(schema, { id: 'c3', n: 2, note: 'b' }); // queued, `extra` left out
    await outside('c3', 'extra', 'outside');
    await strata.set(schema, { id: 'c3', n: 3 }); // over the queued one: carries its `note`
    expect(await strata.get(schema, 'c3')).toEqual({ id: 'c3', n: 3, note: 'b', extra: 'x' });
    expect(await search('c3')).toEqual([{ id: 'c3', n: 3, note: 'b', extra: 'outside' }]);
    await strata.flushDirty();
    expect(await stored('c3')).toEqual({ id: 'c3', n: 3, note: 'b', extra: 'outside' });
  });

  it('a batch of partial sets (one key queued, one cached, one in Postgres only) keeps every outside change', async () => {
    await strata.setMany(schema, [
      { id: 'c5', n: 1, note: 'a', extra: 'x' },
      { id: 'c6', n: 1, note: 'a', extra: 'x' },
    ]);
    await strata.flushDirty();
    await strata.set(schema, { id: 'c5', n: 2, note: 'b' }); // queued
    await stack.db.insert(items).values({ id: 'c7', n: 1, note: 'a', extra: 'x' });
    for (const id of ['c5', 'c6', 'c7']) await outside(id, 'extra', 'outside');
    await strata.setMany(schema, [
      { id: 'c5', n: 3 },
      { id: 'c6', n: 3 },
      { id: 'c7', n: 3 },
    ]);
    await strata.flushDirty();
    expect(await stored('c5')).toEqual({ id: 'c5', n: 3, note: 'b', extra: 'outside' });
    expect(await stored('c6')).toEqual({ id: 'c6', n: 3, note: 'a', extra: 'outside' });
    expect(await stored('c7')).toEqual({ id: 'c7', n: 3, note: 'a', extra: 'outside' });
  });

  it('a partial set of a key with no row is a new row: the columns it left out read null, before and after the flush', async () => {
    await strata.set(schema, { id: 'c4', n: 4 });
    expect(await search('c4')).toEqual([{ id: 'c4', n: 4, note: null, extra: null }]);
    expect(await strata.get(schema, 'c4')).toEqual({ id: 'c4', n: 4, note: null, extra: null });
    await strata.flushDirty();
    expect(await stored('c4')).toEqual({ id: 'c4', n: 4, note: null, extra: null });
  });
});
