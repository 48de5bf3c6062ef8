// Change capture, measured (docs/change-capture.md): how long an outside write takes to reach every
// instance's caches, what the triggers cost Strata's own writes, and what a relay asks of Postgres,
// idle and under outside writes. Outside writes go through a plain pg client, as psql or another service would make them.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createStrata } from '@strata/adapter-node';
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata } from '@strata/core';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { pgSchema } from 'drizzle-orm/pg-core';
import { alternate } from '../lib/alternate.mjs';
import { summarize } from '../lib/stats.mjs';
import { itemsSchema, shape } from './capture-items.mjs';
import { relayLoad } from './capture-relay-load.mjs';
import { trackedDatabase, triggerTime } from './capture-trigger-time.mjs';

const DEADLINE_MS = 5_000;
const LATENCY =
  'Change capture: outside UPDATE to invalidation on every instance (Node, LISTEN relay, pub/sub bus)';
const OVERHEAD = 'Change capture: trigger overhead on write-through set';

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function captureSuite(stack, { quick = false } = {}) {
  const s = pgSchema(stack.name);
  const items = itemsSchema(stack.name);
  const on = defineSchema({ table: s.table('capture_on', shape()) });
  const off = defineSchema({ table: s.table('capture_off', shape()) });
  const latency = await invalidationLatency(stack, items, quick ? 50 : 200);
  const overhead = await triggerOverhead(stack, on, off, quick);
  const keys = Array.from({ length: 1_000 }, (_, i) => `m${i}`); // the rows triggerOverhead's setMany left
  const relay = await relayLoad(stack, on, { idleMs: quick ? 5_000 : 10_000, loadMs: 3_000, keys });
  const ratio = (prefix) => overhead.find((r) => r.ratio !== undefined && r.name.startsWith(prefix)).ratio;
  const target = (what, value) => ({
    target: `Change capture: ${what} on a captured table ≤ 1.15× one on an uncaptured table`,
    value: `${value.toFixed(2)}×`,
    met: value <= 1.15,
  });
  return {
    rows: [latency, ...overhead.map(({ ratio, ...row }) => row), ...relay],
    targets: [
      target('a write-through set', ratio('set,')),
      target('a write-through setMany of 1,000 rows', ratio('setMany(')),
    ],
  };
}

/**
 * Two Node instances in two processes (this one and a child, as two servers); per outside UPDATE,
 * the ms from its COMMIT until both serve the new row.
 */
async function invalidationLatency(stack, items, updates) {
  const keyPrefix = `${stack.name}-capture`;
  // Interval 1 h: only a NOTIFY wakes the relay within a sample's deadline.
  const a = await createStrata({
    databaseUrl: stack.urls.databaseUrl,
    redisUrl: stack.urls.redisUrl,
    schemas: [items],
    keyPrefix,
    migrationsSchema: stack.name,
    handleSignals: false,
    capture: { relay: { interval: '1h' }, listen: true },
  });
  const outside = await stack.pool.connect();
  let child;
  try {
    await a.strata.migrate({ capture: true });
    await a.strata.relayChanges(); // the cursor exists from here on
    child = await startChild(stack, keyPrefix);
    await a.strata.set(items, { id: 'hot', name: 'x', n: 0 });
    const errorsBefore = relayErrors([a]);
    const samples = [];
    const now = () => performance.timeOrigin + performance.now();
    for (let i = 1; i <= updates + 5; i++) {
      await holdOn(a, items, i - 1);
      await child.ask({ op: 'hold', n: i - 1 }, 'held');
      const seenByChild = child.ask({ op: 'watch', n: i }, 'seen');
      await outside.query('begin');
      await outside.query(`update "${stack.name}"."capture_items" set n = $1 where id = 'hot'`, [i]);
      const committedAt = now();
      await outside.query('commit');
      for (;;) {
        if ((await a.strata.find(items, 'hot'))?.n === i) break;
        if (now() - committedAt > DEADLINE_MS)
          throw new Error(`capture: update ${i} not served by this process within ${DEADLINE_MS} ms`);
        await pause(1);
      }
      const seenHere = now();
      const { at: seenThere } = await seenByChild;
      if (i > 5) samples.push((Math.max(seenHere, seenThere) - committedAt) * 1e6); // 5 warm-up updates
    }
    const { errors: childErrors } = await child.ask({ op: 'errors' }, 'errors');
    const errors = relayErrors([a]) - errorsBefore + childErrors;
    if (errors > 0) throw new Error(`capture: the relay failed ${errors} times during the samples`);
    const { median, p99 } = summarize(samples);
    return {
      section: LATENCY,
      name: `${updates} single-row UPDATEs, 2 processes, COMMIT → both serve the new row`,
      median,
      p99,
      headline: true,
      note: 'relay interval 1 h: NOTIFY → LISTEN → relay → L2 markers + pub/sub to the other L1; each process polls every 1 ms',
    };
  } finally {
    outside.release();
    if (child) await child.close();
    await a.shutdown();
  }
}

/** The second instance, in a child process (capture-node-child.mjs), and a typed way to ask it things. */
async function startChild(stack, keyPrefix) {
  const script = fileURLToPath(new URL('./capture-node-child.mjs', import.meta.url));
  const env = {
    ...process.env,
    CAPTURE_CHILD: JSON.stringify({
      databaseUrl: stack.urls.databaseUrl,
      redisUrl: stack.urls.redisUrl,
      schemaName: stack.name,
      keyPrefix,
    }),
  };
  const proc = fork(script, [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = (op) =>
    new Promise((resolve, reject) => {
      const onMessage = (message) => {
        if (message.op === 'failed') reject(new Error(message.error));
        else if (message.op === op) resolve(message);
        else return;
        proc.off('message', onMessage);
        proc.off('exit', onExit);
      };
      const onExit = (code) => reject(new Error(`capture child exited (${code}) waiting for ${op}`));
      proc.on('message', onMessage);
      proc.on('exit', onExit);
    });
  await next('ready');
  return {
    ask(message, reply) {
      const answer = next(reply);
      proc.send(message);
      return answer;
    },
    async close() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.send({ op: 'close' });
      await exited;
    },
  };
}

const relayErrors = (nodes) =>
  nodes.reduce((sum, node) => sum + (node.strata.stats().capture.relay?.errors ?? 0), 0);

/** Reads `hot` on `node` until it holds `expected` in L1 (a bus message landing mid-read refuses a fill). */
async function holdOn(node, items, expected) {
  const since = performance.now();
  for (;;) {
    const row = await node.strata.find(items, 'hot');
    if (row?.n !== expected) throw new Error(`capture: read n = ${row?.n}, expected ${expected}`);
    if (node.strata.peek(items, 'hot') !== undefined) return;
    if (performance.now() - since > DEADLINE_MS) throw new Error('capture: a row never reached L1');
    await pause(1);
  }
}

/**
 * Write-through set and a 1,000-row setMany on a captured table, through an L3 with capture (it marks
 * its keys for the trigger), vs an identical uncaptured table through an L3 without: what a user
 * pays for turning capture on. Alternated call by call.
 */
async function triggerOverhead(stack, on, off, quick) {
  const tracked = trackedDatabase(stack);
  const l3 = createDrizzleL3(tracked.db, { migrationsSchema: stack.name, capture: changeCapture });
  const node = (l3) =>
    new Strata({
      l2: createIoredisL2(stack.urls.redisUrl),
      l3,
      keyPrefix: `${stack.name}-capture-cost`,
      schemas: [on, off],
    });
  const strata = node(l3);
  const plain = node(createDrizzleL3(stack.db, { migrationsSchema: stack.name }));
  try {
    await strata.migrate();
    await l3.capture.install([on]);
    // The log is shared with the latency measurement (same Postgres schema): count what this adds.
    const loggedBefore = await logRows(stack);
    const row = (i) => ({ id: `k${i % 500}`, name: 'x', n: i });
    const table = `"${stack.name}"."capture_on"`;
    const t0 = await triggerTime(stack, tracked, table);
    const sets = await alternate(
      (i) => strata.set(on, row(i)),
      (i) => plain.set(off, row(i)),
      quick ? 300 : 1_000,
    );
    const t1 = await triggerTime(stack, tracked, table);
    const many = (i) => Array.from({ length: 1_000 }, (_, j) => ({ id: `m${j}`, name: 'x', n: i }));
    const batches = await alternate(
      (i) => strata.setMany(on, many(i)),
      (i) => plain.setMany(off, many(i)),
      quick ? 5 : 20,
      3,
    );
    const t2 = await triggerTime(stack, tracked, table);
    const logged = (await logRows(stack)) - loggedBefore;
    if (logged !== 0)
      throw new Error(`capture: Strata's own writes logged ${logged} changes (expected none)`);
    const note = "Strata's own writes logged nothing (checked); ioredis L2, node-postgres";
    const rows = [];
    const setCalls = (quick ? 300 : 1_000) + 50; // alternate's warm-up included
    const manyCalls = (quick ? 5 : 20) + 3;
    for (const [what, result, from, to, calls] of [
      ['set, write-through (single row)', sets, t0, t1, setCalls],
      ['setMany(1,000), write-through (one statement)', batches, t1, t2, manyCalls],
    ]) {
      rows.push({
        section: OVERHEAD,
        name: `${what}, uncaptured table`,
        base: `${what}, uncaptured table`,
        median: result.raw,
        p99: Number.NaN,
        note: 'mean per call, alternated call by call with the captured table',
      });
      rows.push({
        section: OVERHEAD,
        name: `${what}, captured table`,
        base: `${what}, uncaptured table`,
        median: result.strata,
        p99: Number.NaN,
        ratio: result.ratio,
        headline: what.startsWith('set,'),
        note: `${result.ratio.toFixed(2)}× uncaptured; ${note}`,
      });
      const ms = to.ms - from.ms;
      rows.push({
        section: OVERHEAD,
        name: `${what}: Postgres time in the capture trigger per call`,
        median: (ms * 1e6) / calls,
        p99: Number.NaN,
        note: `${to.calls - from.calls} trigger runs for ${calls} calls (pg_stat_user_functions, track_functions = pl): ${((100 * (ms * 1e6)) / calls / result.raw).toFixed(1)} % of an uncaptured call`,
      });
    }
    return rows;
  } finally {
    await strata.close();
    await plain.close();
    await tracked.pool.end();
  }
}

const logRows = async (stack) =>
  (await stack.pool.query(`select count(*)::int as n from "${stack.name}"."_strata_changes"`)).rows[0].n;
