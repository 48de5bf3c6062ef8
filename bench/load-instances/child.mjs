// One instance of the multi-instance load bench, in a process of its own (as one server of N would
// be), driven over IPC by bench/load-instances.mjs:
//   → ready                       once its cache is open
//   run { warmupMs, durationMs }  → result: ops, errors, latency histograms per op, L3 queries
//   flush                         → flushed: its write-behind writes are in Postgres (else a no-op)
//   check { expected }            → checked: does every tier it can read agree with Postgres?
//   close                         → closed, then exit
// Workload: Zipf(s) over `keys` player rows (rank r is id `${idPrefix}${r}`), `writeShare` of the
// calls a `set` (a new `level`, unique to this child and call, and `updatedAt`), the rest a `get`,
// `inFlight` calls outstanding at all times (closed loop). The process exits when its parent goes.
import '../lib/peer-resolve.mjs';
import { histogram, record, toJson } from '../lib/histogram.mjs';
import { playerRow } from '../lib/stack.mjs';
import { zipfSampler } from '../lib/zipf.mjs';
import { canonical } from './rows.mjs';

const config = JSON.parse(process.env.LOAD_CHILD ?? '{}');
const { index, keys, s, inFlight, writeShare, idPrefix } = config;
process.on('disconnect', () => process.exit(1)); // the parent is gone: so is the bench
const { openContestant } = await import('./contestants.mjs');
const cache = await openContestant(config);
const send = (message) => process.send?.(message);

const nextRank = zipfSampler({ keys, s, seed: 0x10ad + index * 7919 });
let seq = 0;
// Unique per child and call, within Postgres' integer: index × 10^8 + sequence.
const nextLevel = () => index * 100_000_000 + (++seq % 100_000_000);

/** The closed loop for `ms`; with `hist`, each call's latency is recorded per op. */
async function drive(ms, hist) {
  const deadline = performance.now() + ms;
  const out = { gets: 0, sets: 0, errors: 0, messages: [] };
  const worker = async () => {
    while (performance.now() < deadline) {
      const rank = nextRank();
      const isSet = Math.random() < writeShare;
      const start = performance.now();
      try {
        if (isSet) {
          await cache.set({ ...playerRow(idPrefix, rank), level: nextLevel(), updatedAt: new Date() });
        } else {
          await cache.get(`${idPrefix}${rank}`);
        }
      } catch (error) {
        out.errors += 1;
        if (out.messages.length < 3) out.messages.push(String(error).slice(0, 300));
        continue;
      }
      if (hist) record(isSet ? hist.set : hist.get, (performance.now() - start) * 1e6);
      if (isSet) out.sets += 1;
      else out.gets += 1;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return out;
}

async function run({ warmupMs, durationMs }) {
  await drive(warmupMs);
  const hist = { get: histogram(), set: histogram() };
  const l3Before = cache.l3();
  const statsBefore = cache.stats();
  const started = performance.now();
  const counts = await drive(durationMs, hist);
  const elapsedMs = performance.now() - started;
  const l3After = cache.l3();
  const statsAfter = cache.stats();
  return {
    ...counts,
    elapsedMs,
    hist: { get: toJson(hist.get), set: toJson(hist.set) },
    l3: { reads: l3After.reads - l3Before.reads, writes: l3After.writes - l3Before.writes },
    l1Hits: statsAfter && statsAfter.hits.l1 - statsBefore.hits.l1,
    l2Hits: statsAfter && statsAfter.hits.l2 - statsBefore.hits.l2,
    cacheErrors: statsAfter?.errors,
  };
}

/**
 * Reads every expected id until each tier this instance can read agrees with Postgres, or `deadlineMs`
 * passes (the other instances' invalidations travel over the bus, which nothing acknowledges).
 */
async function check({ expected, deadlineMs }) {
  const started = performance.now();
  const ids = Object.keys(expected);
  for (;;) {
    const mismatches = [];
    let inL1 = 0;
    for (const id of ids) {
      const held = cache.l1(id);
      if (held !== undefined) {
        inL1 += 1;
        if (canonical(held) !== expected[id]) mismatches.push({ id, tier: 'L1', got: canonical(held) });
      }
      const got = canonical(await cache.get(id));
      if (got !== expected[id]) mismatches.push({ id, tier: 'get', got });
    }
    const elapsed = performance.now() - started;
    if (mismatches.length === 0 || elapsed > deadlineMs) {
      return {
        agreedAfterMs: mismatches.length ? null : elapsed,
        inL1,
        mismatches: mismatches.slice(0, 5),
        mismatchCount: mismatches.length,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

process.on('message', async (message) => {
  try {
    if (message.op === 'run') send({ op: 'result', result: await run(message) });
    else if (message.op === 'flush') {
      await cache.flush(); // write-behind: Postgres holds every acknowledged write after this
      send({ op: 'flushed' });
    } else if (message.op === 'check') send({ op: 'checked', check: await check(message) });
    else if (message.op === 'close') {
      await cache.flush();
      await cache.close();
      send({ op: 'closed' });
      process.disconnect();
    }
  } catch (error) {
    send({ op: 'failed', error: String(error?.stack ?? error).slice(0, 1_000) });
  }
});
send({ op: 'ready' });
