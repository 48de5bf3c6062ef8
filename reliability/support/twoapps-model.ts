import { Q } from '@strata/core';
import fc from 'fast-check';
import { expect } from 'vitest';
import type { AofRedis } from './deployment-redis.js';
import { type BatchOp, checkListed, isBatch, stepBatch } from './twoapps-batch.js';
import { type ExtraOp, stepExtra } from './twoapps-extras.js';
import {
  APPS,
  type App,
  type Instance,
  type Row,
  rowOf,
  TABLES,
  TAG_DEFAULT,
  type TableName,
  type TwoApps,
} from './twoapps-stack.js';

// The commands and the model of reliability/test/model-two-apps.test.ts (see there): per app, table
// and id, what was acknowledged; `step` runs one command on the real apps and checks its reads.

/** What a run works on, and what the runs did (asserted at the end and printed). */
export interface World {
  readonly stack: TwoApps;
  readonly redis: AofRedis;
  readonly tally: {
    runs: number;
    ops: number;
    reads: number;
    faults: number;
    late: number;
    lateFlush: number;
  };
}

export const KEYS = 3;

export type Op =
  | { k: 'set'; inst: number; table: TableName; key: number; full: boolean }
  | { k: 'del'; inst: number; table: TableName; key: number }
  | { k: 'tx'; inst: number; table: TableName; key: number; other: number }
  | { k: 'get'; inst: number; table: TableName; key: number }
  | { k: 'search'; inst: number; table: TableName; cached: boolean }
  | { k: 'inv'; inst: number; table: TableName; key: number | 'all' }
  | ExtraOp
  | BatchOp
  | { k: 'flush'; app: App }
  | { k: 'restart' }
  | { k: 'wipe' }
  | { k: 'lose' };

export const inst = fc.integer({ min: 0, max: 3 });
export const table = fc.constantFrom(...TABLES);
export const key = fc.integer({ min: 0, max: KEYS - 1 });
/** Redis killed and started again: with its data (`restart`), or without, after every flush (`wipe`) or before any (`lose`). */
export const faultOp: fc.Arbitrary<Op> = fc.constantFrom<Op>({ k: 'restart' }, { k: 'wipe' }, { k: 'lose' });

/** Whether `o` is one of `faultOp`'s. */
export const isFault = (o: Op): o is Extract<Op, { k: 'restart' | 'wipe' | 'lose' }> =>
  o.k === 'restart' || o.k === 'wipe' || o.k === 'lose';

export const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ k: fc.constant('set' as const), inst, table, key, full: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('del' as const), inst, table, key }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tx' as const), inst, table, key, other: key }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('get' as const), inst, table, key }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('search' as const), inst, table, cached: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('inv' as const),
      inst,
      table,
      key: fc.oneof(key, fc.constant('all' as const)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('flush' as const), app: fc.constantFrom(...APPS) }) },
  { weight: 1, arbitrary: faultOp },
);

/** Per app, table and id: the last acknowledged n (null: deleted), every n written, the last writer. */
export class Model {
  readonly latest = new Map<string, number | null>();
  readonly written = new Map<string, Set<number>>();
  readonly writer = new Map<string, string>();
  /** Write-behind keys with unflushed writes an invalidate dropped: reads may see Postgres until the flush. */
  readonly unsure = new Set<string>();
  readonly unflushed = new Set<string>();
  /**
   * The whole row each key's acknowledged writes leave (a partial set keeps `note` and `tag`, or
   * takes null and the default on a new row; an SQL update of `n` keeps them too).
   */
  readonly rows = new Map<string, Row | null>();
  /**
   * Apps whose unflushed writes a Redis data loss (`lose`) took: each instance puts its own back
   * when it finds the reset, so until the app's flush another instance's search may miss them.
   */
  readonly lost = new Set<App>();
  /** STRATA_TWOAPPS_BATCH=1: searches, counts and exists must answer every acknowledged write. */
  constructor(readonly strict = false) {}
  next = 1;
  wrote(i: Instance, t: TableName, id: string, n: number | null, queued: boolean, full = false) {
    const k = `${i.app}|${t}|${id}`;
    this.latest.set(k, n);
    const before = this.rows.get(k) ?? null;
    this.rows.set(
      k,
      n === null
        ? null
        : full
          ? { id, n, app: i.app, note: `note-${n}`, tag: `tag-${n}` }
          : { id, n, app: i.app, note: before?.note ?? null, tag: before?.tag ?? TAG_DEFAULT },
    );
    if (n !== null) this.written.set(k, (this.written.get(k) ?? new Set()).add(n));
    this.writer.set(k, i.name);
    if (queued) this.unflushed.add(k);
  }
}

/** A run's rows by id; a cached list carries the tag `list` (`invalidateTags(['list'])` drops it). */
export const runQuery = (ids: readonly string[], cached: boolean) => {
  const q = Q()
    .where('id LIKE $1', `${ids[0]!.slice(0, -1)}%`)
    .orderBy('id');
  return (cached ? q.tags('list') : q).build();
};

const rowFor = (app: App, id: string, n: number, full: boolean) =>
  full ? { id, n, app, note: `note-${n}`, tag: `tag-${n}` } : { id, n, app };

export async function step(w: World, m: Model, o: Op, ids: readonly string[]): Promise<void> {
  const { stack, redis } = w;
  if (o.k === 'flush') {
    for (const i of stack.instances.filter((x) => x.app === o.app)) await i.strata.flushDirty();
    for (const k of [...m.unflushed]) if (k.startsWith(`${o.app}|`)) m.unflushed.delete(k);
    for (const k of [...m.unsure]) if (k.startsWith(`${o.app}|`)) m.unsure.delete(k);
    m.lost.delete(o.app);
    return;
  }
  if (isFault(o)) {
    // `lose`: Redis loses its data, the queues too, before any flush: each instance puts its own
    // unflushed writes back (and queues them again) when it finds the reset.
    if (o.k === 'wipe') for (const app of APPS) await step(w, m, { k: 'flush', app }, ids);
    if (o.k === 'lose')
      for (const app of APPS) if ([...m.unflushed].some((k) => k.startsWith(`${app}|`))) m.lost.add(app);
    const before = stack.gaps();
    try {
      await redis.kill();
      if (o.k !== 'restart') redis.wipe();
    } finally {
      await redis.start();
    }
    await stack.redisBack(before, 10_000);
    return;
  }
  if (o.k === 'expire' || o.k === 'ext' || o.k === 'late' || o.k === 'lateFlush')
    return stepExtra(w, m, o, ids, (o2) => step(w, m, o2, ids));
  if (isBatch(o)) return stepBatch(w, m, o, ids);
  const i = stack.instances[o.inst]!;
  const schema = i.schemas[o.table];
  if (o.k === 'search') {
    // Write-behind: Postgres with the pending index laid over it (its entries, marks, defaults' names).
    const rows = o.cached
      ? await i.strata.searchCached(schema, runQuery(ids, true))
      : await i.strata.search(schema, runQuery(ids, false));
    for (const raw of rows) {
      const row = rowOf(raw as Record<string, unknown>)!;
      const what = `${i.name} search ${o.table} listed ${JSON.stringify(row)}`;
      expect(row.app, `CROSS-APP: ${what}`).toBe(i.app);
      expect(
        m.written.get(`${i.app}|${o.table}|${row.id}`)?.has(row.n),
        `${what}: not an n app ${i.app} wrote`,
      ).toBe(true);
    }
    if (m.strict)
      checkListed(m, i, o.table, rows, ids, `${i.name} search${o.cached ? 'Cached' : ''} ${o.table}`);
    return;
  }
  const id = ids[o.key as number]!;
  const k = `${i.app}|${o.table}|${id}`;
  const queued = stack.queued(o.table);
  if (o.k === 'set') {
    const n = m.next++;
    await i.strata.set(schema, rowFor(i.app, id, n, o.full));
    m.wrote(i, o.table, id, n, queued, o.full);
  } else if (o.k === 'del') {
    await i.strata.delete(schema, id);
    m.wrote(i, o.table, id, null, queued);
  } else if (o.k === 'tx') {
    const n = m.next++;
    const other = ids[o.other]!;
    const tx = i.strata.tx().set(schema, rowFor(i.app, id, n, true));
    await (other === id ? tx : tx.delete(schema, other)).commit();
    if (other !== id) m.wrote(i, o.table, other, null, false);
    m.wrote(i, o.table, id, n, false, true);
  } else if (o.k === 'inv') {
    const keys = o.key === 'all' ? ids : [ids[o.key]!];
    if (o.key === 'all') await i.strata.invalidateAll(schema);
    else await i.strata.invalidate(schema, keys[0]!);
    for (const id2 of keys) {
      const k2 = `${i.app}|${o.table}|${id2}`;
      if (m.unflushed.has(k2)) m.unsure.add(k2);
    }
  } else {
    w.tally.reads += 1;
    const row = rowOf((await i.strata.find(schema, id)) as Record<string, unknown> | null);
    const what = `${i.name} get ${o.table}/${id} = ${JSON.stringify(row)}`;
    if (row) {
      expect(row.app, `CROSS-APP: ${what}`).toBe(i.app);
      expect(m.written.get(k)?.has(row.n), `${what}: not an n app ${i.app} wrote for it`).toBe(true);
    }
    if (m.writer.get(k) === i.name && !m.unsure.has(k))
      expect(row, `${what}: its own last write left ${JSON.stringify(m.rows.get(k))}`).toEqual(
        m.rows.get(k) ?? null,
      );
  }
}

/** Every app flushed: Postgres holds each last write, and every tier of every instance agrees. */
export async function settleAndCheck(w: World, m: Model, ids: readonly string[]): Promise<void> {
  const { stack } = w;
  for (const app of APPS) await step(w, m, { k: 'flush', app }, ids);
  for (const app of APPS) {
    const fresh = await stack.fresh(app);
    try {
      for (const t of TABLES) {
        const pgRows = await stack.pgRows(app, t);
        for (const row of pgRows.values()) expect(row.app, `CROSS-APP in Postgres of ${app}`).toBe(app);
        for (const id of ids) {
          const want = pgRows.get(id) ?? null;
          expect(want?.n ?? null, `Postgres of ${app} ${t}/${id}`).toBe(
            m.latest.get(`${app}|${t}|${id}`) ?? null,
          );
          // The columns the writes left (a partial set keeps note and tag): none lost, none invented.
          expect(want, `Postgres of ${app} ${t}/${id}: the row the acknowledged writes leave`).toEqual(
            m.rows.get(`${app}|${t}|${id}`) ?? null,
          );
          for (const i of [...stack.instances.filter((x) => x.app === app), fresh]) {
            const read = async () =>
              rowOf((await i.strata.find(i.schemas[t], id)) as Record<string, unknown> | null);
            // Other instances hear the last writes over the bus: bounded by the poll's timeout.
            await expect.poll(read, { timeout: 3_000, message: `${i.name} ${t}/${id}` }).toEqual(want);
          }
        }
      }
    } finally {
      await fresh.close();
    }
  }
}
