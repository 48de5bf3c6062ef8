import { uniqueName } from '@strata/devstack/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AofRedis, startAofRedis } from '../support/deployment-redis.js';
import { lateOp, opsOf } from '../support/twoapps-extras.js';
import {
  faultOp,
  isFault,
  KEYS,
  Model,
  type Op,
  settleAndCheck,
  step,
  type World,
} from '../support/twoapps-model.js';
import { type TwoApps, type TwoAppsNames, twoApps } from '../support/twoapps-stack.js';

/** Every name of this run (schemas, keyPrefixes, channel) starts with it: concurrent runs never share one. */
const stem = uniqueName('twoapps');

// Two apps x two instances on ONE Redis (an AOF one of the test's own: it is killed and wiped) and
// ONE bus channel, keyPrefixes one the prefix of the other's (`…_m` / `…_m2`,
// `…_n` / `…_n.b`), the same instance ids in both apps, the same table names (`wb`
// write-behind, `wt` write-through) in Postgres schemas `…_a` / `…_b` (qualified
// tables), or `…_na` / `…_nb` reached by search_path (unqualified: one identity for
// both apps' tables), and the same row ids. Random full and partial sets (a partial set leaves
// `note` and the defaulted `tag` out: defaults' names in the pending index), deletes, transactions,
// gets, searches, invalidate / invalidateAll, flushes, a Redis restart (same AOF), a Redis data loss
// after flushing, and one before (`lose`: the queues go too). Checked on every read: the row is the
// reader's app's and one it wrote for that id; the last writer reads its own write. At the end
// (every app flushed): every instance (L1), a fresh instance (L2) and Postgres agree, and Postgres
// holds each key's last acknowledged write. Found: regression-two-apps-bus.test.ts (search_path
// layout) and regression-flush-after-data-loss.test.ts (`lose`). STRATA_TWOAPPS_SEED / _RUNS /
// _COMMANDS for longer runs; STRATA_TWOAPPS_REPLAY='[…commands…]' replays a counterexample.
// The `extras` layouts add tags (SQL writes then `invalidateTags`, heard by every instance of the
// app), short TTLs and a stale window (`expire`), late commit replies (a write-through set, and a
// flush, whose reply is held while another instance writes, reads or invalidates the same id),
// 4 Redis Cluster buckets on the one Redis, and L2 and bus over the devstack's Upstash REST endpoint
// (SSE bus, log bus) over the same AOF Redis. STRATA_TWOAPPS_LAYOUT=<part of a layout's name> runs
// one layout; STRATA_TWOAPPS_EXTRAS=1 turns the extras on in the first two layouts too.

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SEED = env('STRATA_TWOAPPS_SEED', 20_261_205);
const RUNS = env('STRATA_TWOAPPS_RUNS', 8);
// The Upstash layouts cost more per run (HTTP per L2 call, a polled or streamed bus): fewer by default.
const runsOf = (names: TwoAppsNames) =>
  process.env.STRATA_TWOAPPS_RUNS || (names.transport ?? 'tcp') === 'tcp' ? RUNS : 4;
const COMMANDS = env('STRATA_TWOAPPS_COMMANDS', 30);
/**
 * STRATA_TWOAPPS_BATCH=1: setMany / deleteMany / getMany / count / exists too, and searches, counts
 * and exists checked against every acknowledged write (twoapps-batch.ts), on every layout; the
 * `batches` layout has them always.
 */
const BATCH = process.env.STRATA_TWOAPPS_BATCH === '1';

let redis: AofRedis;
let stack: TwoApps;

beforeAll(async () => {
  redis = await startAofRedis();
});

afterAll(async () => {
  await redis?.stop();
});

const ALL_LAYOUTS: { layout: string; names: TwoAppsNames; batch?: boolean }[] = [
  {
    layout: 'qualified tables (pgSchema)',
    names: {
      keyPrefix: { a: `${stem}_m`, b: `${stem}_m2` },
      pgSchema: { a: `${stem}_a`, b: `${stem}_b` },
      ops: `${stem}_ops`,
      channel: `${stem}_m:shared-bus`,
    },
  },
  {
    layout: 'unqualified tables by search_path',
    names: {
      keyPrefix: { a: `${stem}_n`, b: `${stem}_n.b` },
      pgSchema: { a: `${stem}_na`, b: `${stem}_nb` },
      ops: `${stem}_nops`,
      channel: `${stem}_n:shared-bus`,
      searchPath: true,
    },
  },
  {
    layout: 'batches and strict searches (qualified tables)',
    names: {
      keyPrefix: { a: `${stem}_s`, b: `${stem}_s2` },
      pgSchema: { a: `${stem}_sa`, b: `${stem}_sb` },
      ops: `${stem}_sops`,
      channel: `${stem}_s:shared-bus`,
    },
    batch: true,
  },
  {
    layout: 'tags, TTLs, expire, late commit replies, 4 buckets',
    names: {
      keyPrefix: { a: `${stem}_e`, b: `${stem}_e.b` },
      pgSchema: { a: `${stem}_ea`, b: `${stem}_eb` },
      ops: `${stem}_eops`,
      channel: `${stem}_e:shared-bus`,
      extras: true,
      buckets: 4,
    },
  },
  {
    layout: 'Upstash REST L2 and SSE bus (devstack), tags, TTLs, late replies',
    names: {
      keyPrefix: { a: `${stem}_u`, b: `${stem}_u2` },
      pgSchema: { a: `${stem}_ua`, b: `${stem}_ub` },
      ops: `${stem}_uops`,
      channel: `${stem}_u:shared-bus`,
      extras: true,
      transport: 'upstash-sse',
    },
  },
  {
    layout: 'Upstash REST L2 and log bus (devstack), tags, TTLs, late replies',
    names: {
      keyPrefix: { a: `${stem}_l`, b: `${stem}_l.b` },
      pgSchema: { a: `${stem}_la`, b: `${stem}_lb` },
      ops: `${stem}_lops`,
      channel: `${stem}_l:shared-bus`,
      extras: true,
      transport: 'upstash-log',
    },
  },
];
// STRATA_TWOAPPS_LAYOUT=<substring of a layout's name>: that layout only (long runs).
// STRATA_TWOAPPS_EXTRAS=1: the extras (tags, TTLs, expire, late replies) on every layout.
const LAYOUTS = ALL_LAYOUTS.filter((l) => l.layout.includes(process.env.STRATA_TWOAPPS_LAYOUT ?? '')).map(
  (l) => (process.env.STRATA_TWOAPPS_EXTRAS ? { ...l, names: { ...l.names, extras: true } } : l),
);

describe.each(LAYOUTS)('$layout', ({ names, batch }) => {
  beforeAll(async () => {
    stack = await twoApps(redis, names, 2);
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it(
    'two apps on one Redis and one bus: no row of one app in the other, every tier agrees with its own Postgres',
    () => runModel(names.extras ?? false, runsOf(names), batch || BATCH),
    900_000,
  );
});

async function runModel(extras: boolean, runs: number, batch: boolean): Promise<void> {
  // What the runs did, asserted at the end (the property did run its commands) and printed.
  const tally = { runs: 0, ops: 0, reads: 0, faults: 0, late: 0, lateFlush: 0 };
  const world: World = { stack, redis, tally };
  let run = 0;
  // STRATA_TWOAPPS_REPLAY='[{"k":"set",…},…]': those commands only (a counterexample printed).
  const replay = process.env.STRATA_TWOAPPS_REPLAY;
  const commands = replay
    ? fc.constant(JSON.parse(replay) as Op[])
    : withOne(
        withOne(
          fc.array(opsOf(extras, batch), { minLength: 1, maxLength: COMMANDS, size: 'max' }),
          faultOp,
          isFault,
        ),
        extras ? lateOp : undefined,
        (o) => o.k === 'late',
      );
  await fc.assert(
    fc.asyncProperty(commands, async (ops) => {
      run += 1;
      const ids = Array.from({ length: KEYS }, (_, j) => `r${run}k${j}`);
      const m = new Model(batch);
      // At most one Redis restart or data loss per run: each costs a reconnect.
      let faults = 0;
      for (const o of ops) {
        const fault = isFault(o);
        if (o.k === 'late') tally.late += 1;
        if (fault && faults++ > 0) continue;
        await step(world, m, o, ids);
        tally.ops += 1;
        if (fault) tally.faults += 1;
      }
      tally.runs += 1;
      await settleAndCheck(world, m, ids);
    }),
    { seed: SEED, numRuns: replay ? 1 : runs, endOnFailure: true },
  );
  console.log(`two apps model: ${JSON.stringify(tally)}`);
  if (replay) return;
  expect(tally.runs).toBe(runs);
  expect(tally.faults).toBeGreaterThan(0);
  if (extras) expect(tally.late).toBeGreaterThan(0);
}

/**
 * Every run has a fault, and with the extras a late reply: some seeds drew none in any run (7707,
 * 7710), so the model never met what it exists for (and failed its own checks below). A run that
 * has none of `one` gets one at a drawn place.
 */
function withOne(
  ops: fc.Arbitrary<Op[]>,
  one: fc.Arbitrary<Op> | undefined,
  has: (o: Op) => boolean,
): fc.Arbitrary<Op[]> {
  if (!one) return ops;
  return fc.tuple(ops, one, fc.nat()).map(([list, op, at]) => {
    if (list.some(has)) return list;
    const i = at % (list.length + 1);
    return [...list.slice(0, i), op, ...list.slice(i)];
  });
}
