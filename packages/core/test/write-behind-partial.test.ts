import { eq } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, Q, Strata } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';

/*
 * A write-behind set that leaves columns out (a partial row) must read, before its flush, exactly
 * as after it: get and getMany answer the whole row (the columns it left out as the key's earlier
 * queued writes, or Postgres, hold them), and a transaction that writes the key partially keeps
 * every column an acknowledged queued write set.
 */
let stack: EngineStack;
let strata: Strata;
let schema: ReturnType<typeof behind>;
const itemsTable = (name: string) =>
  pgSchema(name).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    note: text('note'),
    secret: text('secret'),
    hidden: text('hidden'),
  });
let items: ReturnType<typeof itemsTable>;
const behind = () => defineSchema({ table: items, writeMode: 'write-behind' });

const KEY = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
/** The same table with an encrypted column and one L2 never holds (omitCache). */
const guarded = () =>
  defineSchema({
    table: items,
    name: 'items_guarded',
    writeMode: 'write-behind',
    fields: { secret: { encrypted: true }, hidden: { omitCache: true } },
  });

beforeAll(async () => {
  stack = await engineStack('wb_partial');
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

const view = (row: Record<string, unknown> | null) => row && { id: row.id, n: row.n, note: row.note };

/** What get, getMany and search answer for `id` before the flush and after it. */
async function readsAround(id: string) {
  const reads = async () => ({
    get: view(await strata.get(schema, id).catch(() => null)),
    many: (await strata.getMany(schema, [id])).map((r) => view(r as Record<string, unknown> | null)),
    search: (await strata.search(schema, Q().where('id = $1', id).build())).map(view),
  });
  const before = await reads();
  await strata.flushDirty();
  return { before, after: await reads() };
}

describe('write-behind partial sets: reads before the flush answer what they answer after it', () => {
  it('get and getMany of a key set partially over a flushed row answer the stored columns too', async () => {
    await strata.set(schema, { id: 'g1', n: 1, note: 'kept' });
    await strata.flushDirty();
    await strata.set(schema, { id: 'g1', n: 2 });
    const { before, after } = await readsAround('g1');
    expect(after.get).toEqual({ id: 'g1', n: 2, note: 'kept' });
    expect(before).toEqual(after);
  });

  it('get of a key set partially after a queued set answers the queued columns', async () => {
    await strata.set(schema, { id: 'g2', n: 1, note: 'queued' });
    await strata.set(schema, { id: 'g2', n: 2 });
    const { before, after } = await readsAround('g2');
    expect(after.get).toEqual({ id: 'g2', n: 2, note: 'queued' });
    expect(before).toEqual(after);
  });

  it('a partial set after a queued delete reads the left-out columns as null, as the flush does', async () => {
    await strata.set(schema, { id: 'g3', n: 1, note: 'old' });
    await strata.flushDirty();
    await strata.delete(schema, 'g3');
    await strata.set(schema, { id: 'g3', n: 2 });
    const { before, after } = await readsAround('g3');
    expect(after.get).toEqual({ id: 'g3', n: 2, note: null });
    expect(before).toEqual(after);
  });

  it('a transaction that writes a key partially keeps the column a queued write set', async () => {
    await strata.set(schema, { id: 't1', n: 1, note: 'old' });
    await strata.flushDirty();
    await strata.set(schema, { id: 't1', n: 2, note: 'acknowledged' }); // queued
    await strata.tx().set(schema, { id: 't1', n: 3 }).commit();
    const { before, after } = await readsAround('t1');
    expect(after.get).toEqual({ id: 't1', n: 3, note: 'acknowledged' });
    expect(before).toEqual(after);
  });

  it('a partial set with a bad column is refused with a typed error and changes nothing', async () => {
    await strata.set(schema, { id: 'v1', n: 1, note: 'kept' });
    await expect(strata.set(schema, { id: 'v1', n: 'two' } as never)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    const { before, after } = await readsAround('v1');
    expect(after.get).toEqual({ id: 'v1', n: 1, note: 'kept' });
    expect(before).toEqual(after);
  });

  it('encrypted and omitCache columns a partial set leaves out keep their values, before and after the flush', async () => {
    const g = guarded();
    const other = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      encryptionKey: KEY,
      schemas: [g],
      writeBehind: { queue: createMemoryQueue() },
    });
    try {
      const reads = async (id: string) => ({
        get: await other.get(g, id),
        search: await other.search(g, Q().where('id = $1', id).build()),
      });
      // Over a flushed row (its L2 copy has no `hidden`: the flush keeps Postgres's), then over a
      // queued one (its index entry has every column).
      await other.set(g, { id: 'e1', n: 1, note: 'a', secret: 's1', hidden: 'h1' });
      await other.flushDirty();
      await other.set(g, { id: 'e1', n: 2 });
      await other.set(g, { id: 'e2', n: 1, note: 'b', secret: 's2', hidden: 'h2' });
      await other.set(g, { id: 'e2', n: 2 });
      const before = [await reads('e1'), await reads('e2')];
      await other.flushDirty();
      const after = [await reads('e1'), await reads('e2')];
      expect(after[0]!.get).toEqual({ id: 'e1', n: 2, note: 'a', secret: 's1' });
      expect(after[0]!.search).toEqual([{ id: 'e1', n: 2, note: 'a', secret: 's1', hidden: 'h1' }]);
      expect(after[1]!.search).toEqual([{ id: 'e2', n: 2, note: 'b', secret: 's2', hidden: 'h2' }]);
      expect(before).toEqual(after);
      const [stored] = await stack.db.select().from(items).where(eq(items.id, 'e2'));
      expect(stored).toMatchObject({ hidden: 'h2', n: 2 });
      expect(stored!.secret).not.toBe('s2'); // ciphertext in Postgres
    } finally {
      await other.close();
    }
  });
});
