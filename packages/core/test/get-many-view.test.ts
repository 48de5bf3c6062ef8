import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RowCodec } from '../src/engine/row-codec.js';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// getMany answers each row's cached view (no omitCache column). Where L2 keeps every column the
// view is the row itself, and a batch of 1,000 no longer maps its answer through it row by row
// (a second array and a call per row on every getMany: issue 15).
let stack: EngineStack;
beforeAll(async () => {
  stack = await engineStack('l2perf_view');
});
afterAll(() => stack?.cleanup());

const rowOf = (id: string) => ({ id, username: `u_${id}`, level: 3, passwordHash: `h_${id}` });

describe('getMany: the cached view of each row', () => {
  it('every column cached: the rows as read, by position, with no per-row view', async () => {
    const schema = defineSchema({ table: stack.tables.players, l1: false });
    const strata = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schema] });
    await strata.migrate();
    const ids = Array.from({ length: 50 }, (_, i) => `v${i}`);
    await strata.setMany(schema, ids.map(rowOf));
    const view = vi.spyOn(RowCodec.prototype, 'toCachedView');
    try {
      // Every position an L2 hit of its own (no L1 hit, duplicate or join).
      const rows = await strata.getMany(schema, ids);
      expect(rows.map((r) => r?.id)).toEqual(ids);
      expect(rows.map((r) => r?.passwordHash)).toEqual(ids.map((id) => `h_${id}`));
      expect(strata.stats().hits.l2).toBe(50);
      // A duplicate and a row no tier has: positions still follow the ids.
      const mixed = await strata.getMany(schema, ['v7', 'absent', 'v7', 'v1']);
      expect(mixed.map((r) => r?.id ?? null)).toEqual(['v7', null, 'v7', 'v1']);
      expect(view).toHaveBeenCalledTimes(0);
    } finally {
      view.mockRestore();
    }
    await strata.close();
  });

  it('an omitCache column: each position (L1 hit, L2 hit, duplicate) answers without it', async () => {
    const schema = defineSchema({
      table: stack.tables.players,
      fields: { passwordHash: { omitCache: true } },
    });
    const writer = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}o`,
      schemas: [schema],
    });
    for (const id of ['o1', 'o2', 'o3']) await writer.set(schema, rowOf(id));
    const reader = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}o`,
      schemas: [schema],
    });
    await reader.get(schema, 'o2'); // o2 in L1
    const rows = await reader.getMany(schema, ['o1', 'o2', 'o3', 'o1', 'none']);
    expect(rows.map((r) => r?.id ?? null)).toEqual(['o1', 'o2', 'o3', 'o1', null]);
    for (const row of rows.slice(0, 4)) {
      expect(row?.username).toBe(`u_${row?.id}`);
      expect('passwordHash' in row!).toBe(false);
    }
    expect(reader.stats().hits).toMatchObject({ l1: 1, l2: 3 });
    await writer.close();
    await reader.close();
  });
});
