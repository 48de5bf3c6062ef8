// Where a getMany(1,000) of L2 hits over Redis TCP spends its CPU beyond raw ioredis MGET +
// JSON.parse, split into garbage collection and the rest (issue 15, fifteenth pass). Contestants
// interleaved in blocks (shuffled each iteration): raw MGET + JSON.parse (its keys kept across
// calls, and made per call), + `Date` revival, MGET of Strata's own keys (kept, and made per call)
// + the payload's codec decode (header skipped unread), and Strata's getMany (`l1: false`). Per block: this process's CPU (user + system) and the main-thread GC pauses that
// began inside it (`PerformanceObserver` 'gc' entries: scavenges and mark-compacts), so each
// contestant's GC is what its own allocation set off, on average over the blocks. Prints per
// contestant the mean CPU, mean GC pause and CPU − GC per call (µs), and their ratios to raw MGET
// + JSON.parse. `node bench/l2-gc.mjs [--runs 3] [--iterations 40] [--block 4]` (after a build).
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { jsonCodec } from '@strata/core/driver';
import { arg } from './lib/args.mjs';
import { openStack, playerRow } from './lib/stack.mjs';
import { seededRandom, shuffled } from './lib/stats.mjs';

const runs = Number(arg('--runs', 3));
const iterations = Number(arg('--iterations', 40));
const block = Number(arg('--block', 4));
const stack = await openStack();
const tier = createIoredisL2(stack.urls.redisUrl);
const { strata, schema } = stack.strata({ prefix: 'gc', schema: { l1: false }, l2: tier });
await strata.migrate();
const rows = Array.from({ length: 1_000 }, (_, i) => playerRow('gc', i));
await strata.setMany(schema, rows);
const ids = rows.map((r) => r.id);
const r = stack.ioredis;
const rawKeys = ids.map((id) => `${stack.name}:gcraw:${id}`);
const pipe = r.pipeline();
for (let i = 0; i < rows.length; i++) pipe.set(rawKeys[i], JSON.stringify(rows[i]), 'PX', 600_000);
await pipe.exec();
const [, found] = await r.scan(0, 'MATCH', `*-gc:*:r:${ids[0]}`, 'COUNT', 1_000_000);
const ownPrefix = found[0].slice(0, -ids[0].length);
const ownKeys = ids.map((id) => ownPrefix + id);
const rawPrefix = `${stack.name}:gcraw:`;
const kinds = { createdAt: 'date', updatedAt: 'date' };
const revive = (v) => {
  const row = JSON.parse(v);
  if (row.createdAt !== null) row.createdAt = new Date(row.createdAt);
  if (row.updatedAt !== null) row.updatedAt = new Date(row.updatedAt);
  return row;
};
let sink = 0;
const keep = (list) => {
  sink += list.length;
};
const contestants = [
  { name: 'raw MGET + JSON.parse', op: async () => keep((await r.mget(rawKeys)).map((v) => JSON.parse(v))) },
  {
    name: 'raw, keys built + parse',
    op: async () => keep((await r.mget(ids.map((id) => rawPrefix + id))).map((v) => JSON.parse(v))),
  },
  { name: 'raw MGET + parse + revival', op: async () => keep((await r.mget(rawKeys)).map(revive)) },
  {
    name: 'own keys + codec payload',
    op: async () =>
      keep((await r.mget(ownKeys)).map((v) => jsonCodec.decode(v.slice(v.indexOf('{')), kinds))),
  },
  {
    name: 'own keys built + codec',
    op: async () =>
      keep(
        (await r.mget(ids.map((id) => ownPrefix + id))).map((v) =>
          jsonCodec.decode(v.slice(v.indexOf('{')), kinds),
        ),
      ),
  },
  { name: 'Strata getMany', op: async () => keep(await strata.getMany(schema, ids)) },
];
const got = await strata.getMany(schema, ids.slice(0, 3));
if (!(got[2]?.createdAt instanceof Date)) throw new Error('not the rows');

const pauses = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    pauses.push({ start: e.startTime, duration: e.duration, kind: e.detail?.kind });
});
observer.observe({ entryTypes: ['gc'] });
const random = seededRandom();
const fmt = (n) => n.toFixed(0).padStart(6);
for (let run = 0; run < runs; run++) {
  const totals = new Map(contestants.map((c) => [c.name, { cpu: 0, gc: 0, pauses: 0, calls: 0, kinds: {} }]));
  const windows = [];
  for (let it = -3; it < iterations; it++) {
    for (const c of shuffled(contestants, random)) {
      const from = performance.now();
      const start = process.cpuUsage();
      for (let k = 0; k < block; k++) await c.op();
      const used = process.cpuUsage(start);
      if (it < 0) continue;
      const t = totals.get(c.name);
      t.cpu += used.user + used.system;
      t.calls += block;
      windows.push({ from, to: performance.now(), t });
    }
  }
  // The observer's entries come in a later task.
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (const p of pauses.splice(0)) {
    const w = windows.find((x) => p.start >= x.from && p.start < x.to);
    if (!w) continue;
    w.t.gc += p.duration * 1000;
    w.t.pauses += 1;
    w.t.kinds[p.kind] = (w.t.kinds[p.kind] ?? 0) + p.duration * 1000;
  }
  const floor = totals.get(contestants[0].name);
  const per = (t, v) => v / t.calls;
  const floorCpu = per(floor, floor.cpu);
  const floorRest = per(floor, floor.cpu - floor.gc);
  console.log(
    `run ${run + 1} (load ${(await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}):`,
  );
  console.log('  µs per call:               CPU     GC  CPU-GC  pauses/call  CPU ratio  CPU-GC ratio');
  for (const [name, t] of totals) {
    const cpu = per(t, t.cpu);
    const gc = per(t, t.gc);
    console.log(
      `  ${name.padEnd(26)} ${fmt(cpu)} ${fmt(gc)} ${fmt(cpu - gc)}  ${(t.pauses / t.calls).toFixed(3).padStart(11)}  ${(cpu / floorCpu).toFixed(3).padStart(9)}  ${((cpu - gc) / floorRest).toFixed(3).padStart(12)}  ${Object.entries(
        t.kinds,
      )
        .map(([k, v]) => `${k}:${(v / t.calls).toFixed(0)}`)
        .join(' ')}`,
    );
  }
}
observer.disconnect();
if (sink < 0) console.log(sink);
await tier.close();
await stack.cleanup();
