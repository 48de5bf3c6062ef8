// One cell of the load bench: one cache (Strata or bentocache) on one Redis setup with N instances.
// Forks the N children, runs the workload, then checks that what each tier serves agrees with
// Postgres for a sample of keys, and closes everything (by PID if it must).
import os from 'node:os';
import { merge, quantileOf } from '../lib/histogram.mjs';
import { askAll, closeAll, forkChildren, killAll } from './children.mjs';
import { openL2Reader } from './readers.mjs';

const loadavg = () => os.loadavg().map((l) => Math.round(l * 100) / 100);
/** How long the instances get to agree with Postgres after the run (bus messages are not acknowledged). */
const AGREE_DEADLINE_MS = 3_000;

/**
 * Runs the cell and returns its measurements. `sample` are the ids whose rows are compared with
 * Postgres afterwards; `database` is the bench's Postgres (openLoadDatabase).
 */
export async function runCell({ setup, lib, n, redis, keyPrefix, database, workload, sample }) {
  const load = { before: loadavg() };
  const commitsBefore = await database.commits();
  const config = {
    lib,
    databaseUrl: database.databaseUrl,
    schemaName: database.schemaName,
    redis,
    keyPrefix,
    ...workload,
  };
  const reader = await openL2Reader({
    lib,
    databaseUrl: database.databaseUrl,
    redis,
    keyPrefix,
    schemaName: database.schemaName,
  });
  let children = [];
  let results;
  let agreement;
  let l2;
  let filled;
  try {
    filled = await reader.fill(await database.rows());
    children = await forkChildren(n, config);
    const timeout = workload.warmupMs + workload.durationMs + 30_000;
    const replies = await askAll(
      children,
      { op: 'run', warmupMs: workload.warmupMs, durationMs: workload.durationMs },
      'result',
      timeout,
    );
    results = replies.map((r) => r.result);
    load.after = loadavg();
    await askAll(children, { op: 'flush' }, 'flushed', 30_000);
    const expected = await database.expected(sample);
    l2 = await checkL2(reader, expected);
    const checks = await askAll(
      children,
      { op: 'check', expected, deadlineMs: AGREE_DEADLINE_MS },
      'checked',
      AGREE_DEADLINE_MS + 20_000,
    );
    agreement = checks.map((c) => c.check);
    await closeAll(children);
  } catch (error) {
    killAll(children);
    await Promise.all(children.map((c) => c.exited()));
    throw error;
  } finally {
    await reader.close();
  }
  // Each backend flushes its counters when it exits, so after the children's pools closed this is whole.
  const commits = (await database.commits()) - commitsBefore;
  return { ...summarize({ setup, lib, n, results, agreement, l2, load, commits, sample }), l2Filled: filled };
}

/** Reads the sample through the parent's L1-less reader: what L2 holds must be what Postgres holds. */
async function checkL2(reader, expected) {
  let inL2 = 0;
  const mismatches = [];
  for (const [id, want] of Object.entries(expected)) {
    const { value, inL2: held } = await reader.read(id);
    if (held) inL2 += 1;
    if (held && value !== want) mismatches.push({ id, got: value, expected: want });
  }
  const checked = Object.keys(expected).length;
  return { checked, inL2, mismatchCount: mismatches.length, mismatches: mismatches.slice(0, 5) };
}

function summarize({ setup, lib, n, results, agreement, l2, load, commits, sample }) {
  const seconds = (r) => r.elapsedMs / 1000;
  const sum = (f) => results.reduce((t, r) => t + f(r), 0);
  const get = merge(results.map((r) => r.hist.get));
  const set = merge(results.map((r) => r.hist.set));
  const latency = (h) => ({ n: h.n, p50: quantileOf(h, 0.5), p99: quantileOf(h, 0.99) });
  const reads = sum((r) => r.l3.reads / seconds(r));
  const writes = sum((r) => r.l3.writes / seconds(r));
  const gets = sum((r) => r.gets);
  return {
    setup,
    lib,
    n,
    opsPerSec: sum((r) => (r.gets + r.sets) / seconds(r)),
    ops: {
      gets,
      sets: sum((r) => r.sets),
      errors: sum((r) => r.errors),
      messages: results.flatMap((r) => r.messages),
    },
    get: latency(get),
    set: latency(set),
    l3PerSec: { reads, writes, total: reads + writes },
    l1HitShare: results[0].l1Hits === undefined ? null : sum((r) => r.l1Hits) / gets,
    perInstanceOpsPerSec: results.map((r) => (r.gets + r.sets) / seconds(r)),
    postgresCommitsInCell: commits,
    check: {
      sample: sample.length,
      l2,
      instances: agreement,
      agrees: l2.mismatchCount === 0 && agreement.every((a) => a.mismatchCount === 0),
    },
    load,
  };
}
