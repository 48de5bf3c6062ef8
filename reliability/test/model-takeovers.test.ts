import { isStrataError } from '@strata/core';
import { lapseWriterClaims } from '@strata/devstack/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';
import { type Instance, type Row, takeoverTable, takeoverWorld } from '../support/takeovers-world.js';

// A model of takeovers (docs/semantics.md, "One writer per table", "Takeover", "Epochs of a
// mixed-mode app"): app A (a write-behind worker and a write-through API, clocks 7 s apart) and
// app B (two instances) on ONE Redis and ONE Postgres table; sets (full and partial), deletes,
// setMany and transactions from any instance, flushes, lapses of every claim (every clock 61 s on,
// Postgres' leases and the shared ones ended: a takeover by the next app that writes, with the old
// owner's writes still queued), cuts of an instance's next L2 scripts (unsent: a claim's counter
// move, a reservation, a seed, a put, a share) and a Redis data loss after flushing. A refused write
// changes nothing; every acknowledged write is ordered where it was acknowledged. Checked after
// every app flushed: Postgres holds each key's last acknowledged write (columns merged in order),
// every instance of the app that wrote a key last reads it so (L1, L2; the other app keeps its
// copy: no change capture here, a documented miss), and no write was dead-lettered.
// STRATA_TAKEOVERS_SEED / _RUNS / _COMMANDS; STRATA_TAKEOVERS_B=through runs B write-through (where
// gap 1 of reliability/test/probe-through-apps-counter.test.ts, still open, can show).

const env = (name: string, fallback: number) => Number(process.env[`STRATA_TAKEOVERS_${name}`] ?? fallback);
const SEED = env('SEED', 20_261_208);
const RUNS = env('RUNS', 30);
const COMMANDS = env('COMMANDS', 24);
const KEYS = 3;
/** STRATA_TAKEOVERS_REPLAY='[…commands…]': those commands only (a counterexample printed). */
const REPLAY = process.env.STRATA_TAKEOVERS_REPLAY;
/**
 * Keys a write-through write reached over another app's queued write of them (gap 2 of
 * probe-through-apps-counter.test.ts, closed: the taker's claim starts a new epoch) are checked;
 * STRATA_TAKEOVERS_STRICT=0 leaves them out (counted as `gaps`), to tell such a failure apart.
 */
const STRICT = process.env.STRATA_TAKEOVERS_STRICT !== '0';
const B_MODE = process.env.STRATA_TAKEOVERS_B === 'through' ? 'write-through' : 'write-behind';

type Write = { id: string } & Partial<Omit<Row, 'id'>>;
type Op =
  | { k: 'set'; i: number; key: number; n: number; shape: 'full' | 'n' | 'note' }
  | { k: 'del'; i: number; key: number }
  | { k: 'many'; i: number; keys: number[]; n: number }
  | { k: 'tx'; i: number; key: number; gone: number; n: number }
  | { k: 'flush'; i: number }
  | { k: 'lapse' }
  | { k: 'cut'; i: number; scripts: number }
  | { k: 'wipe' };

const inst = fc.nat({ max: 3 });
const key = fc.nat({ max: KEYS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('set' as const),
      i: inst,
      key,
      n: fc.nat(99),
      shape: fc.constantFrom('full' as const, 'n' as const, 'note' as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('del' as const), i: inst, key }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('many' as const),
      i: inst,
      keys: fc.uniqueArray(key, { minLength: 1, maxLength: 3 }),
      n: fc.nat(99),
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ k: fc.constant('tx' as const), i: inst, key, gone: key, n: fc.nat(99) })
      .filter((o) => o.key !== o.gone),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('flush' as const), i: inst }) },
  { weight: 3, arbitrary: fc.constant({ k: 'lapse' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('cut' as const),
      i: inst,
      scripts: fc.integer({ min: 1, max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ k: 'wipe' as const }) },
);

describe(`takeovers between two apps on one table (B ${B_MODE})`, () => {
  const scratch = scratchApp('takeovers');
  const dead: unknown[] = [];
  const { table, schemas } = takeoverTable(scratch.pgName, dead);
  scratch.migrate(table);

  it('every acknowledged write lands in order; every tier of its app agrees after the flush', async () => {
    const tally = {
      runs: 0,
      acked: { A: 0, B: 0 },
      refused: {} as Record<string, number>,
      lapses: 0,
      gaps: 0,
      cutHits: 0,
      wipes: 0,
    };
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          REPLAY
            ? fc.constant(JSON.parse(REPLAY) as Op[])
            : fc.array(opArb, { minLength: 4, maxLength: COMMANDS }),
          async (ops) => {
            run += 1;
            // New apps each run (a replay starts where its run did): the last run's claims lapsed.
            await lapseWriterClaims(scratch.admin, scratch.pgName);
            const world = takeoverWorld(scratch, schemas, [B_MODE, B_MODE], `r${run}`);
            const { instances } = world;
            try {
              const ids = Array.from({ length: KEYS }, (_, j) => `r${run}k${j}`);
              const model = new Map<string, { row: Row | null; app: string; merged: boolean }>();
              /** Per key, the write-behind instances holding an acknowledged write of it not yet flushed. */
              const queued = new Map<string, Set<Instance>>();
              /** Keys a write-through write reached over another app's queued write (left out unless STRICT). */
              const gapped = new Set<string>();
              const fold = (w: Write | string, who: Instance) => {
                const id = typeof w === 'string' ? w : w.id;
                const waiting = queued.get(id) ?? new Set<Instance>();
                // Another app's older write of the key still queued: its flush merges it under this
                // one in Postgres, which this app's caches do not hear of (no change capture here).
                const merged = [...waiting].some((q) => q.app !== who.app);
                // Gap 2 of probe-through-apps-counter.test.ts (closed): a write-through write over
                // another app's queued write of the key was ordered below it.
                if (merged && who.mode === 'write-through') gapped.add(id);
                if (who.mode === 'write-behind') waiting.add(who);
                queued.set(id, waiting);
                if (typeof w === 'string') return void model.set(w, { row: null, app: who.app, merged });
                const was = model.get(w.id)?.row ?? { id: w.id, n: null, note: null, extra: null };
                model.set(w.id, { row: { ...was, ...w }, app: who.app, merged });
              };
              /** Runs a write; folds it into the model only when acknowledged. */
              const attempt = async (
                who: Instance,
                writes: (Write | string)[],
                call: () => Promise<unknown>,
              ) => {
                try {
                  await call();
                } catch (err) {
                  const code = isStrataError(err) ? err.code : 'other';
                  tally.refused[code] = (tally.refused[code] ?? 0) + 1;
                  return;
                }
                for (const w of writes) fold(w, who);
                tally.acked[who.app] += 1;
              };
              const flushed = (x: Instance) =>
                x.s.flushDirty().then(
                  () => {
                    for (const waiting of queued.values()) waiting.delete(x);
                    return true;
                  },
                  () => false,
                );
              const flushAll = async () => {
                let ok = true;
                for (const x of instances) if (x.mode === 'write-behind') ok = (await flushed(x)) && ok;
                return ok;
              };
              for (const o of ops) {
                const who = o.k === 'lapse' || o.k === 'wipe' ? undefined : instances[o.i]!;
                if (o.k === 'set') {
                  const w: Write =
                    o.shape === 'full'
                      ? { id: ids[o.key]!, n: o.n, note: `${who!.label}${o.n}`, extra: `x${o.n}` }
                      : o.shape === 'n'
                        ? { id: ids[o.key]!, n: o.n }
                        : { id: ids[o.key]!, note: `${who!.label}${o.n}` };
                  await attempt(who!, [w], () => who!.s.set(who!.schema, w as never));
                } else if (o.k === 'del') {
                  await attempt(who!, [ids[o.key]!], () => who!.s.delete(who!.schema, ids[o.key]!));
                } else if (o.k === 'many') {
                  const ws = o.keys.map((k) => ({ id: ids[k]!, n: o.n, note: `${who!.label}m${o.n}` }));
                  await attempt(who!, ws, () => who!.s.setMany(who!.schema, ws as never));
                } else if (o.k === 'tx') {
                  const w = { id: ids[o.key]!, extra: `${who!.label}t${o.n}` };
                  await attempt(who!, [w, ids[o.gone]!], () =>
                    who!.s
                      .tx()
                      .set(who!.schema, w as never)
                      .delete(who!.schema, ids[o.gone]!)
                      .commit(),
                  );
                } else if (o.k === 'flush') {
                  if (who!.mode === 'write-behind') await flushed(who!);
                } else if (o.k === 'lapse') {
                  await world.lapse();
                  tally.lapses += 1;
                } else if (o.k === 'cut') {
                  who!.cut.left = o.scripts;
                } else if (o.k === 'wipe') {
                  for (const x of instances) x.cut.left = 0;
                  // Data lost after flushing only: a volatile Redis loses its queue (documented).
                  if (!(await flushAll())) continue;
                  await world.wipe();
                  tally.wipes += 1;
                }
              }
              for (const x of instances) {
                tally.cutHits += x.cut.hit.length;
                x.cut.left = 0;
              }
              await flushAll();
              expect(await flushAll(), 'every queue flushed').toBe(true);
              tally.gaps += gapped.size;
              const checked = STRICT ? ids : ids.filter((id) => !gapped.has(id));
              const stored = await scratch.admin.query<Row>(
                `select id, n, note, extra from "${scratch.pgName}".items where id = any($1) order by id`,
                [checked],
              );
              const want = checked.flatMap((id) => {
                const row = model.get(id)?.row;
                return row ? [row] : [];
              });
              expect(stored.rows, 'Postgres holds the last acknowledged writes').toEqual(want);
              expect(dead, 'no dead letter').toEqual([]);
              for (const x of instances)
                for (const id of checked) {
                  const m = model.get(id);
                  // The other app's copy, or one a merge changed since: no change capture here (documented).
                  if (!m || m.app !== x.app || m.merged) continue;
                  await expect
                    .poll(() => x.s.find(x.schema, id).catch(() => undefined), {
                      timeout: 5_000,
                      interval: 50,
                      message: `${x.label} (${x.mode}) reads ${id}`,
                    })
                    .toEqual(m.row ?? null);
                }
              tally.runs += 1;
            } finally {
              await world.close();
            }
          },
        ),
        { seed: SEED, numRuns: REPLAY ? 1 : RUNS, endOnFailure: true },
      );
    } finally {
      console.log(`takeovers model (seed ${SEED}): ${JSON.stringify(tally)}`);
    }
    if (REPLAY) return;
    expect(tally.runs).toBe(RUNS);
    expect(tally.lapses).toBeGreaterThan(0);
    expect(tally.acked.A * tally.acked.B).toBeGreaterThan(0);
  }, 240_000);
});
