import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { createMemoryQueue, defineSchema, type Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { lapseWriterClaims } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ColumnModel, type Event, type Row } from '../support/column-model.js';
import { reusableHeldL3 } from '../support/held-l3.js';
import { record } from '../support/ledger.js';
import { scratchApp } from '../support/scratch-app.js';

// Tried to break per-column versions (`_strata_versions.cols`) and `mergeRefused` (helper
// "breakit"): three instances of one app (one keyPrefix, one bus) on one table, in a rolling
// deploy (a write-behind v1, a write-behind v2 with one more nullable column, a write-through v2)
// or on one shape (two write-behind instances and a write-through one), run random partial and
// whole sets, deletes, transactions, flushes, reads, statements held at L3 while other instances
// write the same keys (so later writes reach Postgres first) or committed with their reply held (a
// late commit reply: Postgres has the write, its writer does not know yet), invalidations of a key
// or of the table, and Redis losing its data (the queues are in memory and survive it, as in
// probe-hostile-6). After each run every instance flushes; then
// Postgres holds, per key, a row the acknowledged writes can leave (support/column-model.ts: per
// column, the last write in version order, an overlapping write anywhere between its call and its
// acknowledgement), and every instance, and a new one of each shape (L2), serves Postgres' row.
//
// Runs by default with a fixed seed and a few runs (~10-20 s); longer runs by env:
//   STRATA_MERGE_MODEL=1          40 runs of a random seed (printed), unless the knobs below say otherwise
//   STRATA_MERGE_MODEL_SEED=<n>   the seed (default 42, or random with STRATA_MERGE_MODEL=1)
//   STRATA_MERGE_MODEL_RUNS=<n>   how many runs (default 12, or 40 with STRATA_MERGE_MODEL=1)
//   STRATA_MERGE_MODEL_SHAPES=1|2|both   one shape, a rolling deploy, or either per run (default)
//   STRATA_MERGE_MODEL_CASE='<json>'     replay one run, as a failure prints its counterexample
// e.g. STRATA_MERGE_MODEL=1 STRATA_MERGE_MODEL_SEED=7 npx vitest run --project reliability \
//        reliability/test/model-merge-refused.test.ts
// A failure stops at its first counterexample (no shrinking: every run is slow); minimise it by
// hand into a regression-*.test.ts (held L3 gates, no sleeps).
// Found on the late-reply generator (2026-12-05, 40 runs each): seed 9102 run 16 (minimised:
// regression-late-reply-shapes, fixed) and seed 9106 run 33 (minimised:
// regression-write-into-unfound-life, fixed): after the `wipe`, v1's instance never found the reset
// (other instances' scripts pushed the tick past its floor, and no generation read was due), so its
// transaction's partial set of b, c, committed after a held v2 write-through transaction that set
// a, cached its row with the `a` it read before, in a Redis life where its shape was not registered
// live (v2's commit marked none of its keys), for good. Now every write script carries the boot
// marker its instance knows and writes nothing in another life (l2/life-script.ts): seed 9106 passes
// its 40 runs.

const LONG = process.env.STRATA_MERGE_MODEL === '1';
// A fixed default seed: the suite runs the same cases each time; a longer run takes a random one.
const RUNS = Number(process.env.STRATA_MERGE_MODEL_RUNS ?? (LONG ? 40 : 12));
const SEED = Number(process.env.STRATA_MERGE_MODEL_SEED ?? (LONG ? Date.now() % 1_000_000_000 : 42));
const KEYS = 3;
const BUS_BOUND_MS = 3_000;
// After Redis lost its data, an instance takes its cached rows as orphaned at its next generation
// read, at most 5 s later (docs/semantics.md, "Redis restarted or restored"): until then it may
// serve, from its shape's L2 key, a row a write of the other shape (which did not see it live: the
// registry went with the data) replaced.
const RESET_BOUND_MS = 6_000;
const COLUMNS = ['a', 'b', 'c', 'extra'] as const;

type Write = { kind: 'set'; key: number; cols: readonly string[] } | { kind: 'delete'; key: number };
type Plain =
  | { kind: 'write'; at: number; w: Write }
  | { kind: 'tx'; at: number; ws: readonly Write[] }
  | { kind: 'flush'; at: number }
  | { kind: 'read'; at: number; key: number }
  /** invalidate(key), or invalidateAll without a key: caches only, never a queued write. */
  | { kind: 'invalidate'; at: number; key?: number }
  | { kind: 'wipe' };
/** `reply`: the statement commits and its reply is held (a late commit reply); else held before Postgres. */
type Op = Plain | { kind: 'held'; at: number; op: Plain; during: readonly Plain[]; reply?: boolean };

const at = fc.nat({ max: 2 });
const key = fc.nat({ max: KEYS - 1 });
const write: fc.Arbitrary<Write> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      key,
      cols: fc.subarray([...COLUMNS], { minLength: 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('set' as const), key, cols: fc.constant([...COLUMNS]) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key }) },
);
const txWrites = fc.uniqueArray(write, { minLength: 2, maxLength: 3, selector: (w) => w.key });
const plain = (withWipe: boolean): fc.Arbitrary<Plain> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('write' as const), at, w: write }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('tx' as const), at, ws: txWrites }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('flush' as const), at }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), at, key }) },
    {
      weight: 1,
      arbitrary: fc.record(
        { kind: fc.constant('invalidate' as const), at, key },
        { requiredKeys: ['kind', 'at'] },
      ),
    },
    { weight: withWipe ? 1 : 0, arbitrary: fc.constant({ kind: 'wipe' as const }) },
  );
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: plain(true) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        op: plain(false).filter((p) => p.kind !== 'read' && p.kind !== 'wipe' && p.kind !== 'invalidate'),
        during: fc.array(plain(true), { minLength: 1, maxLength: 4 }),
        reply: fc.boolean(),
      })
      .map(({ op, during, reply }) => ({
        kind: 'held' as const,
        at: (op as { at: number }).at,
        op,
        during,
        ...(reply && { reply }),
      })),
  },
);
// Which deploys the runs take: `1` (one shape), `2` (a rolling deploy) or `both`.
const SHAPES = process.env.STRATA_MERGE_MODEL_SHAPES ?? 'both';
// A run to replay (its JSON, as a failure prints it), instead of random ones.
const REPLAY = process.env.STRATA_MERGE_MODEL_CASE;
const randomRun = fc.record({
  shapes: SHAPES === 'both' ? fc.constantFrom(1, 2) : fc.constant(Number(SHAPES)),
  warm: fc.boolean(), // every instance reads first (both shapes live before the first write)
  ops: fc.array(op, { minLength: 4, maxLength: 24 }),
});
const run = REPLAY
  ? fc.constant(JSON.parse(REPLAY) as { shapes: number; warm: boolean; ops: Op[] })
  : randomRun;

describe('model: partial sets, per-column versions and mergeRefused, 3 instances, 1 or 2 shapes', () => {
  const scratch = scratchApp('model');
  const { pgName, admin, raw, redisUrl, db, name } = scratch;
  const cols = { id: text('id').primaryKey(), a: integer('a'), b: text('b'), c: integer('c') };
  const v1Table = pgSchema(pgName).table('items', cols);
  const v2Table = pgSchema(pgName).table('items', { ...cols, extra: text('extra') });
  scratch.migrate(v2Table);
  const shapes = {
    v1Behind: defineSchema({ name: 'items', table: v1Table, writeMode: 'write-behind' }),
    v2Behind: defineSchema({ name: 'items', table: v2Table, writeMode: 'write-behind' }),
    v1Through: defineSchema({ name: 'items', table: v1Table }),
    v2Through: defineSchema({ name: 'items', table: v2Table }),
  };
  type AnySchema = (typeof shapes)[keyof typeof shapes];
  const has = (schema: AnySchema, column: string) =>
    column !== 'extra' || schema === shapes.v2Behind || schema === shapes.v2Through;
  const tally = {
    runs: 0,
    ops: 0,
    held: 0,
    heldReached: 0,
    lateReplies: 0,
    invalidations: 0,
    wipes: 0,
    failedWrites: 0,
    checks: 0,
  };
  // Its measure is the rows checked against the oracle and Postgres, not "acknowledged and found".
  afterAll(() =>
    record({
      category: 'deployments',
      scenario: `model: partial sets and per-column versions, 3 instances, shapes ${SHAPES} (seed ${SEED}, ${tally.runs} runs, ${tally.checks} reads checked)`,
      faultsInjected: tally.heldReached + tally.wipes,
      operations: tally.ops,
      writesAcknowledged: 0,
      writesFound: 0,
      hangs: 0,
    }),
  );

  it('Postgres holds a row the acknowledged writes leave; every instance and L2 serve it', async () => {
    console.log(`model-merge-refused: seed ${SEED}, ${RUNS} runs, shapes ${SHAPES}`);
    let runNo = 0;
    let value = 0;
    await fc.assert(
      fc.asyncProperty(run, async ({ shapes: shapeCount, warm, ops }) => {
        runNo += 1;
        tally.runs += 1;
        const prefix = `${name}r${runNo}`;
        const id = (k: number) => `r${runNo}k${k}`;
        const model = new ColumnModel(COLUMNS);
        let wiped = false;
        const schemasOf: AnySchema[] =
          shapeCount === 2
            ? [shapes.v1Behind, shapes.v2Behind, shapes.v2Through]
            : [shapes.v1Behind, shapes.v1Behind, shapes.v1Through];
        const held = schemasOf.map(() => reusableHeldL3(createDrizzleL3(db, { migrationsSchema: pgName })));
        const instances: Strata[] = schemasOf.map((schema, i) =>
          scratch.strata({
            keyPrefix: prefix,
            schemas: [schema],
            l3: held[i]!.l3,
            writeBehind: { queue: createMemoryQueue() },
            coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${prefix}:bus` }) },
            timeouts: { queue: '1s' },
          }),
        );
        try {
          if (warm) for (const [i, s] of instances.entries()) await s.find(schemasOf[i]!, 'warm-up');
          for (const o of ops) {
            tally.ops += 1;
            if (o.kind !== 'held') {
              await perform(o, undefined);
              continue;
            }
            tally.held += 1;
            const gate = held[o.at]!.holdNext(o.reply ? 'reply' : 'before');
            const started = model.mark();
            let settled = false;
            const outcome = perform(o.op, started).finally(() => {
              settled = true;
            });
            await expect.poll(() => gate.reached() || settled, { timeout: 10_000 }).toBe(true);
            if (!gate.reached()) {
              held[o.at]!.disarm();
              await outcome;
            } else {
              tally.heldReached += 1;
              if (o.reply) tally.lateReplies += 1;
            }
            // The held instance waits (its later writes of the key would wait behind the held one).
            for (const d of o.during) if (!('at' in d) || d.at !== o.at) await perform(d, undefined);
            gate.open();
            await outcome;
          }
          for (const s of instances) await s.flushDirty();
          for (const s of instances) await s.flushDirty();
          await check();
        } finally {
          await Promise.allSettled(instances.map((s) => s.close()));
          await lapseWriterClaims(admin, pgName, { redis: raw, keyPrefix: prefix });
        }

        /** Runs one operation; a write held (overlapping) is recorded as such once it settles. */
        async function perform(p: Plain, overlapStart: number | undefined): Promise<void> {
          const label = `${p.kind}${'at' in p ? `@i${p.at}` : ''}`;
          if (p.kind === 'wipe') {
            tally.wipes += 1;
            wiped = true;
            const keys = await raw.keys(`${prefix}:*`);
            if (keys.length > 0) await raw.del(...keys);
            return;
          }
          const s = instances[p.at]!;
          const schema = schemasOf[p.at]!;
          if (p.kind === 'flush') return void (await s.flushDirty());
          if (p.kind === 'read') return void (await s.find(schema, id(p.key)));
          if (p.kind === 'invalidate') {
            tally.invalidations += 1;
            return void (await (p.key === undefined
              ? s.invalidateAll(schema)
              : s.invalidate(schema, id(p.key))));
          }
          const ws = p.kind === 'write' ? [p.w] : p.ws;
          const ev: Event = {
            label,
            writes: ws.map((w) => ({
              key: id(w.key),
              cols: w.kind === 'delete' ? null : rowOf(schema, w.cols),
            })),
          };
          const started = overlapStart ?? model.mark();
          try {
            if (p.kind === 'write') {
              const [w, kw] = [p.w, ev.writes[0]!];
              if (w.kind === 'delete') await s.delete(schema, kw.key).catch(ignoreNotFound);
              else await s.set(schema, { id: kw.key, ...kw.cols } as never);
            } else {
              const tx = s.tx();
              for (const kw of ev.writes) {
                if (kw.cols === null) tx.delete(schema, kw.key);
                else tx.set(schema, { id: kw.key, ...kw.cols } as never);
              }
              await tx.commit();
            }
          } catch (error) {
            tally.failedWrites += 1;
            console.log(`model-merge-refused run ${runNo}: ${label} failed: ${String(error)}`);
            model.overlapped(ev, started, true);
            return;
          }
          if (overlapStart === undefined) model.acknowledged(ev);
          else model.overlapped(ev, overlapStart);
        }

        /** The columns `cols` the instance's shape maps, with fresh values (one at least). */
        function rowOf(schema: AnySchema, wanted: readonly string[]): Row {
          const mapped = wanted.filter((c) => has(schema, c));
          value += 1;
          const row: Row = {};
          for (const c of mapped.length > 0 ? mapped : ['a'])
            row[c] = c === 'a' || c === 'c' ? value : `${c}${value}`;
          return row;
        }

        async function check(): Promise<void> {
          const { rows } = await admin.query<Row & { id: string }>(
            `select id, a, b, c, extra from "${pgName}".items where id = any($1)`,
            [Array.from({ length: KEYS }, (_, k) => id(k))],
          );
          const stored = new Map(rows.map(({ id: rowId, ...row }) => [rowId, row as Row]));
          for (let k = 0; k < KEYS; k++) {
            const actual = model.canonical(stored.get(id(k)) ?? null);
            const allowed = model.allowed(id(k));
            if (!allowed.has(actual))
              throw new Error(
                `run ${runNo} (${shapeCount} shapes): Postgres holds ${id(k)} = ${actual}; allowed ${[...allowed].join(' | ')}\n  ${model.history(id(k)).join('\n  ')}`,
              );
          }
          // Every instance (its L1, L2) and a new instance of each shape (L2, then Postgres).
          const fresh = [...new Set(schemasOf)].map((schema) => ({
            schema,
            s: scratch.strata({
              keyPrefix: prefix,
              schemas: [schema],
              writeBehind: { queue: createMemoryQueue() },
            }),
          }));
          try {
            const readers = [...instances.map((s, i) => ({ s, schema: schemasOf[i]! })), ...fresh];
            for (const [r, { s, schema }] of readers.entries())
              for (let k = 0; k < KEYS; k++) {
                const row = stored.get(id(k));
                const expected = row
                  ? Object.fromEntries(
                      Object.entries({ id: id(k), ...row }).filter(([c]) => c === 'id' || has(schema, c)),
                    )
                  : null;
                await expect
                  .poll(() => s.find(schema, id(k)), {
                    timeout: wiped ? RESET_BOUND_MS : BUS_BOUND_MS,
                    interval: 5,
                  })
                  .toEqual(expected)
                  .catch(async (error: unknown) => {
                    const served = await s.find(schema, id(k)).catch(String);
                    throw new Error(
                      `run ${runNo}: reader ${r} serves ${id(k)} = ${JSON.stringify(served)} unlike Postgres (${JSON.stringify(expected)}): ${String(error)}\n  ${model.history(id(k)).join('\n  ')}`,
                    );
                  });
                tally.checks += 1;
              }
          } finally {
            await Promise.allSettled(fresh.map(({ s }) => s.close()));
          }
        }
      }),
      { numRuns: REPLAY ? 1 : RUNS, seed: SEED, endOnFailure: true },
    );
    console.log(`model-merge-refused: ${JSON.stringify(tally)}`);
  }, 300_000);
});

function ignoreNotFound(error: unknown): void {
  if ((error as { code?: string }).code !== 'NOT_FOUND') throw error;
}
