import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, Q, Strata } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { createUpstashLogBus } from '../src/upstash/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

/*
 * Partial write-behind sets (engine/partial-rows.ts) on a schema whose rows carry tags, across two
 * instances with a log bus read before every read: the merged row keeps its tags, a tag move
 * neither drops a queued row nor lets an older copy in, and setMany's collapse of one id keeps the
 * last write. Written by the lead as a break-it probe of the partial-rows merge (it passed).
 */
let stack: EngineStack;
const channel = uniqueName('probe_partial_log');
let a: Strata;
let b: Strata;
const itemsTable = (name: string) =>
  pgSchema(name).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    note: text('note'),
  });
let items: ReturnType<typeof itemsTable>;
let tagged: ReturnType<typeof make>;
const make = () =>
  defineSchema({
    table: items,
    writeMode: 'write-behind',
    tags: (row) => [`note:${String(row.note)}`],
  });

beforeAll(async () => {
  stack = await engineStack('probe_partial_lead');
  items = itemsTable(stack.name);
  tagged = make();
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: items })] }).migrate();
  const bus = () => createUpstashLogBus({ ...testDevstack().upstash!, stream: channel });
  const opts = { l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix };
  a = new Strata({
    ...opts,
    schemas: [tagged],
    writeBehind: { queue: createMemoryQueue() },
    coherence: { bus: bus(), pollInterval: 0 },
  });
  b = new Strata({
    ...opts,
    schemas: [make()],
    writeBehind: { queue: createMemoryQueue() },
    coherence: { bus: bus(), pollInterval: 0 },
  });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await stack?.cleanup();
  await new Redis(testDevstack().upstash!).del(channel);
});

const view = (r: Record<string, unknown> | null | undefined) => r && { id: r.id, n: r.n, note: r.note };

describe('partial write-behind sets on a tagged schema', () => {
  it('a partial set keeps the row under its tags, before and after the flush, on both instances', async () => {
    await a.set(tagged, { id: 't1', n: 1, note: 'red' });
    await a.flushDirty();
    expect(view(await b.get('items', 't1'))).toEqual({ id: 't1', n: 1, note: 'red' });
    await a.set(tagged, { id: 't1', n: 2 });
    const q = Q().where('id = $1', 't1').build();
    for (const s of [a, b]) {
      expect(view(await s.get(s === a ? tagged : ('items' as never), 't1'))).toEqual({
        id: 't1',
        n: 2,
        note: 'red',
      });
      expect((await s.searchCached(s === a ? tagged : ('items' as never), q)).map(view)).toEqual([
        { id: 't1', n: 2, note: 'red' },
      ]);
    }
    await b.invalidateTags(['note:red']);
    for (const s of [a, b])
      expect(view(await s.get(s === a ? tagged : ('items' as never), 't1'))).toEqual({
        id: 't1',
        n: 2,
        note: 'red',
      });
    await a.flushDirty();
    await b.flushDirty();
    await b.invalidateTags(['note:red']);
    for (const s of [a, b]) {
      expect(view(await s.get(s === a ? tagged : ('items' as never), 't1'))).toEqual({
        id: 't1',
        n: 2,
        note: 'red',
      });
      expect((await s.searchCached(s === a ? tagged : ('items' as never), q)).map(view)).toEqual([
        { id: 't1', n: 2, note: 'red' },
      ]);
    }
  });

  it('a partial set from the other instance after a tag move merges over the current row', async () => {
    await a.set(tagged, { id: 't2', n: 1, note: 'blue' });
    await a.flushDirty();
    await a.get(tagged, 't2');
    await a.invalidateTags(['note:blue']);
    await b.set('items', { id: 't2', n: 5 });
    expect(view(await a.get(tagged, 't2'))).toEqual({ id: 't2', n: 5, note: 'blue' });
    await a.set(tagged, { id: 't2', n: 5, note: 'green' });
    expect(view(await b.get('items', 't2'))).toEqual({ id: 't2', n: 5, note: 'green' });
    await b.flushDirty();
    await a.flushDirty();
    for (const s of [a, b])
      expect(view(await s.get(s === a ? tagged : ('items' as never), 't2'))).toEqual({
        id: 't2',
        n: 5,
        note: 'green',
      });
  });

  it('setMany of one id partial then whole, and whole then partial', async () => {
    await a.set(tagged, { id: 't3', n: 1, note: 'x' });
    await a.flushDirty();
    await a.setMany(tagged, [
      { id: 't3', n: 2 },
      { id: 't3', n: 3, note: 'y' },
    ] as never);
    expect(view(await b.get('items', 't3'))).toEqual({ id: 't3', n: 3, note: 'y' });
    await a.setMany(tagged, [
      { id: 't3', n: 4, note: 'z' },
      { id: 't3', n: 5 },
    ] as never);
    const before = view(await b.get('items', 't3'));
    await a.flushDirty();
    await b.flushDirty();
    const after = view(await b.get('items', 't3'));
    expect(before).toEqual(after);
  });
});
