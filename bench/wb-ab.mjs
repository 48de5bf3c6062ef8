// Branch vs a baseline build of Strata's write-behind `set` (Redis Stream queue on the L2's Redis,
// ioredis L2, one set at a time), in one process, interleaved per iteration (shuffled) with the
// one-round-trip floor (a raw ioredis MULTI of SET + XADD, bench/lib/write-behind-floor.mjs).
// `--bus`: each side with the Redis pub/sub bus `createStrata` wires (on the L2's Redis; its publish
// awaited, `background: 'await'`), the floor unchanged.
// `node bench/wb-ab.mjs [--base <dir>] [--runs 5] [--iterations 3000] [--cpu] [--bus]`, where <dir> holds
// node_modules/@strata/{core,adapter-node} (package.json + dist of the baseline build) and symlinks
// to this repo's other node_modules (as bench/l2-ab.mjs). Prints each run's medians, then per side
// the median of the runs' ratios to the floor (time per set / the floor's) with their spread, and
// with a base, branch / base paired within each run (the floor's drift between runs cancels out).
import * as branchTcp from '@strata/adapter-node/redis-tcp';
import * as branchCore from '@strata/core';
import * as branchDrizzle from '@strata/core/drizzle';
import { arg, baseBuild, flag } from './lib/args.mjs';
import { openStack, playerRow, playerTable } from './lib/stack.mjs';
import { interleave, seededRandom, shuffled, summarize } from './lib/stats.mjs';
import { rawWriteBehindSet } from './lib/write-behind-floor.mjs';

const runs = Number(arg('--runs', 5));
const iterations = Number(arg('--iterations', 3_000));
const base = await baseBuild();

const stack = await openStack();
const make = (label, { core, drizzle, tcp }) => {
  const l2 = tcp.createIoredisL2(stack.urls.redisUrl);
  const keyPrefix = `${stack.name}-wbab-${label}`;
  const queue = tcp.createRedisStreamQueue({
    url: stack.urls.redisUrl,
    keyPrefix,
    stream: `${stack.name}:wbab-${label}:writes`,
    allowVolatile: true,
  });
  // A table per side: one app owns a table's write-behind versions (`_strata_writers`), so the
  // baseline writes a table of its own (made by its own migrate).
  const table = label === 'branch' ? stack.players : playerTable(stack.name, `players_${label}`);
  const schema = core.defineSchema({ table, writeMode: 'write-behind' });
  const strata = new core.Strata({
    l2,
    l3: drizzle.createDrizzleL3(stack.db, { migrationsSchema: stack.name }),
    keyPrefix,
    l1: { maxEntries: 200_000 },
    schemas: [schema],
    writeBehind: { queue, threshold: 1_000_000 },
    ...(flag('--bus') && {
      coherence: {
        bus: tcp.createRedisPubSubBus({
          url: stack.urls.redisUrl,
          channel: `${stack.name}:wbab-${label}:bus`,
        }),
      },
    }),
  });
  return { label, strata, schema, stream: `${stack.name}:wbab-${label}:writes` };
};
const sides = [make('branch', { core: branchCore, drizzle: branchDrizzle, tcp: branchTcp })];
if (base) sides.push(make('base', base));
for (const s of sides) await s.strata.migrate();
const rows = Array.from({ length: 100 }, (_, i) => playerRow('wbab', i));
const levelled = (i) => ({ ...rows[i % 100], level: (i % 90) + 1 });
const floor = rawWriteBehindSet(stack, 'wbab-floor');
const contestants = [
  { name: 'floor', op: (i) => floor.write(levelled(i)) },
  ...sides.map((s) => ({ name: s.label, op: (i) => s.strata.set(s.schema, levelled(i)) })),
];
const loadavg = async () =>
  (await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
const ratios = new Map(sides.map((s) => [s.label, []]));
const paired = [];
/**
 * --cpu: timed by this process's CPU time (user + system) in blocks of calls, not wall time: on a
 * loaded machine the wall time is mostly waiting for a core (Redis' own time is then not counted).
 */
async function interleaveCpu(list, { iterations: blocks, block, seed }) {
  const samples = new Map(list.map((c) => [c.name, []]));
  const random = seededRandom(seed);
  let i = 0;
  for (let it = -3; it < blocks; it++) {
    for (const c of shuffled(list, random)) {
      const start = process.cpuUsage();
      for (let k = 0; k < block; k++) await c.op(i++);
      const used = process.cpuUsage(start);
      if (it >= 0) samples.get(c.name).push(((used.user + used.system) * 1000) / block);
    }
  }
  return new Map([...samples].map(([name, list]) => [name, summarize(list)]));
}
const cpu = flag('--cpu');
for (let run = 0; run < runs; run++) {
  const stats = cpu
    ? await interleaveCpu(contestants, { iterations: Math.ceil(iterations / 100), block: 100, seed: run + 1 })
    : await interleave(contestants, { iterations, warmup: 200, maxMs: 120_000, seed: run + 1 });
  const f = stats.get('floor').median;
  const line = contestants.map((c) => {
    const m = stats.get(c.name).median;
    if (ratios.has(c.name)) ratios.get(c.name).push(m / f);
    return `${c.name} ${(m / 1000).toFixed(1)} µs`;
  });
  const pair = base ? stats.get('branch').median / stats.get('base').median : undefined;
  if (pair !== undefined) paired.push(pair);
  console.log(
    `run ${run + 1}: ${line.join(' | ')}${pair === undefined ? '' : `  branch/base ${pair.toFixed(3)}`}  (load ${await loadavg()})`,
  );
  // The streams grow by one entry per set: trimmed between runs so no run pays for a longer one.
  for (const s of [...sides.map((x) => x.stream), floor.stream]) await stack.ioredis.xtrim(s, 'MAXLEN', 0);
}
for (const [label, list] of ratios) {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = sorted[sorted.length >> 1];
  console.log(
    `${label}: ${mid.toFixed(3)}× the floor's time = ${(1 / mid).toFixed(2)}× of the floor (runs ${sorted.map((x) => x.toFixed(3)).join(', ')})`,
  );
}
if (paired.length > 0) {
  const sorted = [...paired].sort((a, b) => a - b);
  console.log(
    `branch/base: ${sorted[sorted.length >> 1].toFixed(3)} (runs ${sorted.map((x) => x.toFixed(3)).join(', ')})`,
  );
}
for (const s of sides) {
  await stack.ioredis.del(s.stream);
  await s.strata.flushDirty().catch(() => {});
  await s.strata.close();
}
await stack.ioredis.del(floor.stream);
await stack.cleanup();
