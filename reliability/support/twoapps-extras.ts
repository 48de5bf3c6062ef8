import fc from 'fast-check';
import { expect } from 'vitest';
import { batchOp } from './twoapps-batch.js';
import { inst, KEYS, key, type Model, type Op, op, runQuery, table, type World } from './twoapps-model.js';
import { rowOf, tagOf } from './twoapps-stack.js';

// The `extras` commands of reliability/test/model-two-apps.test.ts (its tags / TTL / late-reply
// layouts): each runs on the real apps and checks what it read against the model.

export type ExtraOp =
  | { k: 'expire'; inst: number; table: 'wb' | 'wt'; key: number }
  | { k: 'ext'; inst: number; key: number }
  | {
      k: 'late';
      inst: number;
      key: number;
      other: number;
      mid: 'set' | 'get' | 'inv' | 'del' | 'restart' | 'lose';
    }
  | { k: 'lateFlush'; inst: number; key: number };

/** Runs one plain command (the model's `step`), as the late reply's command in between. */
type Step = (o: Op) => Promise<void>;

export async function stepExtra(w: World, m: Model, o: ExtraOp, ids: readonly string[], step: Step) {
  const i = w.stack.instances[o.inst]!;
  const id = ids[o.key]!;
  if (o.k === 'expire') {
    await i.strata.expire(i.schemas[o.table], id);
    // As `inv`: a write-behind key's unflushed write may be refreshed from Postgres until the flush.
    const k = `${i.app}|${o.table}|${id}`;
    if (m.unflushed.has(k)) m.unsure.add(k);
    return;
  }
  if (o.k === 'ext') {
    // A write behind Strata's back (SQL), then its tag invalidated: only on a row Postgres holds.
    if (typeof m.latest.get(`${i.app}|wt|${id}`) !== 'number') return;
    const n = m.next++;
    await w.stack.pgUpdate(i.app, 'wt', id, n);
    await i.strata.invalidateTags([tagOf(id), 'list']);
    m.wrote(i, 'wt', id, n, false);
    w.tally.reads += 1;
    const row = rowOf((await i.strata.find(i.schemas.wt, id)) as Record<string, unknown> | null);
    if (row?.n !== n) {
      // Diagnosis: what Postgres holds now, and a second read.
      const pg = (await w.stack.pgRows(i.app, 'wt')).get(id);
      const again = rowOf((await i.strata.find(i.schemas.wt, id)) as Record<string, unknown> | null);
      const stats = JSON.stringify(i.strata.stats());
      expect(
        row?.n,
        `${i.name} get wt/${id} after SQL n=${n} and invalidateTags(${tagOf(id)}); Postgres ${JSON.stringify(pg)}, again ${JSON.stringify(again)}, stats ${stats}`,
      ).toBe(n);
    }
    // The cached list (tag `list`) went too: it lists the SQL write.
    const listed = (await i.strata.searchCached(i.schemas.wt, runQuery(ids, true))).map((r) =>
      rowOf(r as Record<string, unknown>),
    );
    expect(listed.find((r) => r?.id === id)?.n, `${i.name} searchCached wt after invalidateTags(list)`).toBe(
      n,
    );
    // Its app's other instances hear it over the bus (bounded by the poll's timeout).
    for (const j of w.stack.instances.filter((x) => x.app === i.app && x !== i)) {
      const read = async () =>
        rowOf((await j.strata.find(j.schemas.wt, id)) as Record<string, unknown> | null)?.n;
      await expect
        .poll(read, { timeout: 3_000, message: `${j.name} wt/${id} after ${i.name}'s tags` })
        .toBe(n);
    }
    return;
  }
  if (o.k === 'lateFlush') return lateFlush(w, o, step);
  // A write-through set whose commit reply is held (Postgres has it) while another instance (of
  // this app or the other, never the writer itself: its own writes to one key wait in turn) works
  // on the same id; then the reply arrives.
  const other = o.other === o.inst ? (o.inst + 2) % 4 : o.other;
  const n = m.next++;
  const gate = i.held.holdNext('reply');
  const late = i.strata.set(i.schemas.wt, { id, n, app: i.app, note: `note-${n}`, tag: `tag-${n}` });
  const settled = late.then(
    () => true,
    () => true,
  );
  await expect
    .poll(() => gate.reached(), { timeout: 5_000, message: `${i.name} late set reached` })
    .toBe(true);
  m.wrote(i, 'wt', id, n, false, true);
  // The command in between must not wait for the held reply (a deadlock detector, not a sleep).
  // A Redis restart or data loss in between: the reply then lands on a Redis that moved on.
  const between = step(
    o.mid === 'restart' || o.mid === 'lose'
      ? { k: o.mid }
      : o.mid === 'set'
        ? { k: 'set', inst: other, table: 'wt', key: o.key, full: true }
        : { k: o.mid, inst: other, table: 'wt', key: o.key },
  );
  let done = false;
  between.then(
    () => (done = true),
    () => (done = true),
  );
  // A restart's own bound (every connection back, every bus subscribed again: redisBack, 10 s) is
  // longer: within it, a restart slow on a loaded machine is told from one that waits for the reply,
  // and a bus that never subscribes again fails as itself (seed 74 run 50, search_path + extras:
  // 'restart … waited for A1's held reply' at 5 s on a machine at load 20-30; in its replays each
  // restart or data loss in between took 0.4-1 s).
  const bound = o.mid === 'restart' || o.mid === 'lose' ? 15_000 : 5_000;
  try {
    await expect
      .poll(() => done, {
        timeout: bound,
        message: `${o.mid} by instance ${other} waited for ${i.name}'s held reply`,
      })
      .toBe(true);
  } finally {
    // On a failure too: else the writer's close() waits for the held write (the hook times out and
    // the run's schemas stay).
    gate.open();
  }
  await settled;
  await late;
  await between;
}

/**
 * A flush whose commit reply is held (Postgres has the queued writes) while another instance of
 * the app writes `wb` of the same id again (queued); then the reply arrives, and must not take the
 * newer write for flushed. The model is left as it was (the queued writes stay unflushed for it).
 */
async function lateFlush(w: World, o: { inst: number; key: number }, step: Step) {
  if (!w.stack.queued('wb')) return;
  const i = w.stack.instances[o.inst]!;
  const j = w.stack.instances.filter((x) => x.app === i.app && x !== i)[0]!;
  const gate = i.held.holdNext('reply');
  let settled = false;
  const flush = i.strata.flushDirty().finally(() => (settled = true));
  await expect.poll(() => gate.reached() || settled, { timeout: 5_000 }).toBe(true);
  if (!gate.reached()) {
    // Nothing to flush: no Postgres write.
    i.held.disarm();
    await flush;
    return;
  }
  w.tally.lateFlush += 1;
  const between = step({
    k: 'set',
    inst: w.stack.instances.indexOf(j),
    table: 'wb',
    key: o.key,
    full: false,
  });
  let done = false;
  between.then(
    () => (done = true),
    () => (done = true),
  );
  try {
    await expect
      .poll(() => done, { timeout: 5_000, message: `${j.name}'s set waited for ${i.name}'s flush` })
      .toBe(true);
  } finally {
    gate.open(); // on a failure too (see the late set's)
  }
  await flush;
  await between;
}

/** A write-through set or a flush whose commit reply is held while another instance does `mid`. */
export const lateOp: fc.Arbitrary<Op> = fc.record({
  k: fc.constant('late' as const),
  inst,
  key,
  other: inst,
  mid: fc.constantFrom(
    'set' as const,
    'get' as const,
    'inv' as const,
    'del' as const,
    'restart' as const,
    'lose' as const,
  ),
});

/** `extras` (see model-two-apps.test.ts): expire, writes behind Strata's back then invalidateTags, late replies. */
export const opsOf = (extras: boolean, batch = false): fc.Arbitrary<Op> => {
  const plain = batch ? fc.oneof({ weight: 3, arbitrary: op }, { weight: 1, arbitrary: batchOp(KEYS) }) : op;
  return extras
    ? fc.oneof(
        { weight: 12, arbitrary: plain },
        { weight: 1, arbitrary: fc.record({ k: fc.constant('expire' as const), inst, table, key }) },
        { weight: 1, arbitrary: fc.record({ k: fc.constant('ext' as const), inst, key }) },
        { weight: 1, arbitrary: fc.record({ k: fc.constant('lateFlush' as const), inst, key }) },
        { weight: 2, arbitrary: lateOp },
      )
    : plain;
};
