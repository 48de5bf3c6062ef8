import fc from 'fast-check';
import { expect } from 'vitest';
import { type Model, type Op, runQuery, type World } from './twoapps-model.js';
import { type Instance, rowOf, type TableName } from './twoapps-stack.js';

// The `batch` commands of reliability/test/model-two-apps.test.ts (STRATA_TWOAPPS_BATCH=1, and the
// `batches` layout): setMany (ids may repeat, each row full or partial: a later one over the ones
// before it), deleteMany and getMany, on the write-behind table (pending keys among flushed ones)
// and the write-through one. Each checks what it read against the model as `get` does.

export type BatchOp =
  | {
      k: 'setMany';
      inst: number;
      table: TableName;
      rows: readonly { key: number; full: boolean }[];
    }
  | { k: 'deleteMany'; inst: number; table: TableName; keys: readonly number[] }
  | { k: 'getMany'; inst: number; table: TableName; keys: readonly number[] }
  | { k: 'count'; inst: number; table: TableName }
  | { k: 'exists'; inst: number; table: TableName; key: number };

export const isBatch = (o: Op): o is BatchOp =>
  o.k === 'setMany' || o.k === 'deleteMany' || o.k === 'getMany' || o.k === 'count' || o.k === 'exists';

/**
 * `strict`: a search of the run's ids answers every acknowledged write of the reader's app, on any
 * instance (write-behind: the pending index over Postgres; a cached list is dropped by every write),
 * whole rows; not while a data loss's unflushed writes may not be put back yet (`lost`).
 */
export function checkListed(
  m: Model,
  i: Instance,
  t: TableName,
  rows: readonly unknown[],
  ids: readonly string[],
  what: string,
): void {
  if (m.lost.has(i.app)) return;
  const byId = new Map(rows.map((r) => rowOf(r as Record<string, unknown>)!).map((r) => [r.id, r]));
  const got = ids.map((id) => byId.get(id) ?? null);
  const want = ids.map((id) => m.rows.get(`${i.app}|${t}|${id}`) ?? null);
  expect(got, `${what}: the rows the app's acknowledged writes leave`).toEqual(want);
}

export async function stepBatch(w: World, m: Model, o: BatchOp, ids: readonly string[]): Promise<void> {
  const i = w.stack.instances[o.inst]!;
  const schema = i.schemas[o.table];
  const queued = w.stack.queued(o.table);
  if (o.k === 'setMany') {
    const rows = o.rows.map((r) => {
      const id = ids[r.key]!;
      const n = m.next++;
      return {
        id,
        n,
        full: r.full,
        value: r.full ? { id, n, app: i.app, note: `note-${n}`, tag: `tag-${n}` } : { id, n, app: i.app },
      };
    });
    await i.strata.setMany(
      schema,
      rows.map((r) => r.value),
    );
    for (const r of rows) m.wrote(i, o.table, r.id, r.n, queued, r.full);
    return;
  }
  if (o.k === 'count' || o.k === 'exists') {
    w.tally.reads += 1;
    const live = (id: string) => (m.rows.get(`${i.app}|${o.table}|${id}`) ?? null) !== null;
    if (o.k === 'count') {
      const n = await i.strata.count(schema, runQuery(ids, false));
      if (m.strict && !m.lost.has(i.app))
        expect(n, `${i.name} count ${o.table}: the app's rows of the run`).toBe(ids.filter(live).length);
    } else {
      const id = ids[o.key]!;
      const found = await i.strata.exists(schema, id);
      if (m.strict && !m.lost.has(i.app)) expect(found, `${i.name} exists ${o.table}/${id}`).toBe(live(id));
    }
    return;
  }
  const keys = o.keys.map((k) => ids[k]!);
  if (o.k === 'deleteMany') {
    await i.strata.deleteMany(schema, keys);
    for (const id of keys) m.wrote(i, o.table, id, null, queued);
    return;
  }
  w.tally.reads += 1;
  const got = await i.strata.getMany(schema, keys);
  keys.forEach((id, j) => {
    const row = rowOf(got[j] as Record<string, unknown> | null);
    const k = `${i.app}|${o.table}|${id}`;
    const what = `${i.name} getMany ${o.table} [${keys.join(',')}]: ${id} = ${JSON.stringify(row)}`;
    if (row) {
      expect(row.app, `CROSS-APP: ${what}`).toBe(i.app);
      expect(row.id, `${what}: another id`).toBe(id);
      expect(m.written.get(k)?.has(row.n), `${what}: not an n app ${i.app} wrote for it`).toBe(true);
    }
    if (m.writer.get(k) === i.name && !m.unsure.has(k))
      expect(row, `${what}: its own last write left ${JSON.stringify(m.rows.get(k))}`).toEqual(
        m.rows.get(k) ?? null,
      );
  });
}

const inst = fc.integer({ min: 0, max: 3 });
const table = fc.constantFrom<TableName>('wb', 'wt');
const keys = (n: number) =>
  fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: n });

/** The batch commands over `n` keys. */
export const batchOp = (n: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        k: fc.constant('setMany' as const),
        inst,
        table,
        rows: fc.array(fc.record({ key: fc.integer({ min: 0, max: n - 1 }), full: fc.boolean() }), {
          minLength: 1,
          maxLength: n + 1,
        }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ k: fc.constant('deleteMany' as const), inst, table, keys: keys(n) }),
    },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('getMany' as const), inst, table, keys: keys(n) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('count' as const), inst, table }) },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('exists' as const),
        inst,
        table,
        key: fc.integer({ min: 0, max: n - 1 }),
      }),
    },
  );
