// Change capture, measured (docs/change-capture.md): how long an outside write takes to reach every
// instance's caches, what the triggers cost Strata's own writes, and what a relay asks of Postgres,
// idle and under outside writes. Outside writes go through a plain pg client, as psql or another service would make them.
import { createStrata } from '@strata/adapter-node';
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata } from '@strata/core';
import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { alternate } from '../lib/alternate.mjs';
import { summarize } from '../lib/stats.mjs';
import { relayLoad } from './capture-relay-load.mjs';

const DEADLINE_MS = 5_000;
const LATENCY =
  'Change capture: outside UPDATE to invalidation on every instance (Node, LISTEN relay, pub/sub bus)';
const OVERHEAD = 'Change capture: trigger overhead on write-through set';

const shape = () => ({
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  n: integer('n').notNull(),
});
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function captureSuite(stack, { quick = false } = {}) {
  const s = pgSchema(stack.name);
  const items = defineSchema({ table: s.table('capture_items', shape()) });
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

/** Two Node instances; per outside UPDATE, the ms from its COMMIT until both serve the new row. */
async function invalidationLatency(stack, items, updates) {
  const keyPrefix = `${stack.name}-capture`;
  // Interval 1 h: only a NOTIFY wakes the relay within a sample's deadline.
  const open = () =>
    createStrata({
      databaseUrl: stack.urls.databaseUrl,
      redisUrl: stack.urls.redisUrl,
      schemas: [items],
      keyPrefix,
      migrationsSchema: stack.name,
      handleSignals: false,
      capture: { relay: { interval: '1h' }, listen: true },
    });
  const a = await open();
  const nodes = [a];
  const outside = await stack.pool.connect();
  try {
    await a.strata.migrate({ capture: true });
    nodes.push(await open());
    for (const node of nodes) await node.strata.relayChanges(); // the cursor exists from here on
    await a.strata.set(items, { id: 'hot', name: 'x', n: 0 });
    const errorsBefore = relayErrors(nodes);
    const samples = [];
    for (let i = 1; i <= updates + 5; i++) {
      await holdOnEvery(nodes, items, i - 1);
      await outside.query('begin');
      await outside.query(`update "${stack.name}"."capture_items" set n = $1 where id = 'hot'`, [i]);
      const committedAt = performance.now();
      await outside.query('commit');
      for (;;) {
        const served = await Promise.all(nodes.map((node) => node.strata.find(items, 'hot')));
        if (served.every((row) => row?.n === i)) break;
        if (performance.now() - committedAt > DEADLINE_MS)
          throw new Error(`capture: update ${i} not served on every instance within ${DEADLINE_MS} ms`);
        await pause(1);
      }
      if (i > 5) samples.push((performance.now() - committedAt) * 1e6); // 5 warm-up updates
    }
    const errors = relayErrors(nodes) - errorsBefore;
    if (errors > 0) throw new Error(`capture: the relay failed ${errors} times during the samples`);
    const { median, p99 } = summarize(samples);
    return {
      section: LATENCY,
      name: `${updates} single-row UPDATEs, 2 instances, COMMIT → both serve the new row`,
      median,
      p99,
      headline: true,
      note: `relay interval 1 h: NOTIFY → LISTEN → relay → L2 markers + pub/sub to the other L1; polled every 1 ms`,
    };
  } finally {
    outside.release();
    for (const node of nodes) await node.shutdown();
  }
}

const relayErrors = (nodes) =>
  nodes.reduce((sum, node) => sum + (node.strata.stats().capture.relay?.errors ?? 0), 0);

/** Reads `id` on every instance until each holds it in L1 (a bus message landing mid-read refuses a fill). */
async function holdOnEvery(nodes, items, expected) {
  const since = performance.now();
  for (const node of nodes) {
    for (;;) {
      const row = await node.strata.find(items, 'hot');
      if (row?.n !== expected) throw new Error(`capture: read n = ${row?.n}, expected ${expected}`);
      if (node.strata.peek(items, 'hot') !== undefined) break;
      if (performance.now() - since > DEADLINE_MS) throw new Error('capture: a row never reached L1');
      await pause(1);
    }
  }
}

/** Write-through set and a 1,000-row setMany on a captured table vs an identical uncaptured one, alternated. */
async function triggerOverhead(stack, on, off, quick) {
  const l2 = createIoredisL2(stack.urls.redisUrl);
  const l3 = createDrizzleL3(stack.db, { migrationsSchema: stack.name, capture: changeCapture });
  const strata = new Strata({ l2, l3, keyPrefix: `${stack.name}-capture-cost`, schemas: [on, off] });
  try {
    await strata.migrate();
    await l3.capture.install([on]);
    // The log is shared with the latency measurement (same Postgres schema): count what this adds.
    const loggedBefore = await logRows(stack);
    const row = (i) => ({ id: `k${i % 500}`, name: 'x', n: i });
    const sets = await alternate(
      (i) => strata.set(on, row(i)),
      (i) => strata.set(off, row(i)),
      quick ? 300 : 1_000,
    );
    const many = (i) => Array.from({ length: 1_000 }, (_, j) => ({ id: `m${j}`, name: 'x', n: i }));
    const batches = await alternate(
      (i) => strata.setMany(on, many(i)),
      (i) => strata.setMany(off, many(i)),
      quick ? 5 : 20,
      3,
    );
    const logged = (await logRows(stack)) - loggedBefore;
    if (logged !== 0)
      throw new Error(`capture: Strata's own writes logged ${logged} changes (expected none)`);
    const note = "Strata's own writes logged nothing (checked); ioredis L2, node-postgres";
    const rows = [];
    for (const [what, result] of [
      ['set, write-through (single row)', sets],
      ['setMany(1,000), write-through (one statement)', batches],
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
    }
    return rows;
  } finally {
    await strata.close();
  }
}

const logRows = async (stack) =>
  (await stack.pool.query(`select count(*)::int as n from "${stack.name}"."_strata_changes"`)).rows[0].n;
