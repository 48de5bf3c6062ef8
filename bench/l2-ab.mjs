// Branch vs a baseline build of Strata's L2 reads over Redis TCP, in one process, interleaved per
// iteration (shuffled) with the raw ioredis floor: `get` hits (raw GET + JSON.parse) and
// getMany(1,000) hits, each side's ratio printed against both floors, each named: raw MGET +
// JSON.parse + Date revival of the date columns, and raw MGET + JSON.parse (the issue's own).
// `--cpu`: timed by this process's CPU time (user + system) in blocks of calls, not wall time: on a
// loaded machine the wall time is mostly waiting for a core. `--replay` (implies --cpu): each
// side's L2 replies recorded and replayed (a live read every 500 calls keeps the tick current),
// the floor parses recorded strings, and "decode only" decodes the branch's recorded values by hand
// (no engine): CPU without I/O (note: replayed strings sit in old space, so whatever touches a value
// first pays its cache misses, which moves cost from JSON.parse to the header read).
// `--between idle|walk|http`: other work shuffled in between the timed calls (see `between` below).
// `node bench/l2-ab.mjs --base <dir> [--runs 3] [--many-only|--get-only] [--cpu] [--replay] [--between …] [--node-clock]`, where <dir> holds
// node_modules/@strata/{core,adapter-node} (package.json + dist of the baseline build) and symlinks
// to this repo's other node_modules. Prints each run's medians and the median of the runs' ratios.
import { fileURLToPath } from 'node:url';
import { nodeClock } from '@strata/adapter-node';
import * as branchTcp from '@strata/adapter-node/redis-tcp';
import * as branchCore from '@strata/core';
import * as branchDriver from '@strata/core/driver';
import * as branchDrizzle from '@strata/core/drizzle';
import { arg, baseBuild, flag } from './lib/args.mjs';
import { copyBuild } from './lib/isolated-build.mjs';
import { openStack, playerRow } from './lib/stack.mjs';
import { interleave, seededRandom, shuffled, summarize } from './lib/stats.mjs';

const runs = Number(arg('--runs', 3));
const only = flag('--many-only') ? 'many' : flag('--get-only') ? 'get' : 'both';
const replay = flag('--replay');
const cpu = replay || flag('--cpu');
const base = await baseBuild();
// --isolate: the branch side runs a copy of this build that nothing else here calls, as the base
// side does. Otherwise its code is also the bench helpers' and `--parts`/`--replay`'s. In A/A runs
// (the base a copy of the same build; 7 runs, load 15-20 on 2 cores) the shared copy read 1.044x
// the base on get hits (--cpu, runs 0.99-1.12) and 1.072x on getMany(1,000) (--replay, 0.98-1.10);
// isolated, 0.997x (0.88-1.08) and 1.040x (0.96-1.06).
const isolated = flag('--isolate')
  ? await copyBuild(fileURLToPath(new URL('..', import.meta.url)))
  : undefined;
const branch = isolated
  ? await baseBuild(isolated.dir)
  : { core: branchCore, drizzle: branchDrizzle, tcp: branchTcp };

const stack = await openStack();
// --node-clock: the branch side on the clock `createStrata` gives a Node process (read at most once
// per ms), the base side on core's default (the system clock, read once per synchronous run), as
// `new Strata` without `clock` has: with a copy of this build as the base, what that costs an L2 read.
const branchClock = flag('--node-clock') ? { clock: nodeClock() } : {};
const make = (label, { core, drizzle, tcp }) => {
  const live = tcp.createIoredisL2(stack.urls.redisUrl);
  const l2 = replay ? replaying(live) : live;
  const schema = core.defineSchema({ table: stack.players, l1: false });
  const strata = new core.Strata({
    l2,
    l3: drizzle.createDrizzleL3(stack.db, { migrationsSchema: stack.name }),
    keyPrefix: `${stack.name}-ab-${label}`,
    schemas: [schema],
    ...(label === 'branch' && branchClock),
  });
  return { label, strata, schema, l2 };
};
/**
 * An L2 that answers reads from what it recorded, but for every 500th read and a read of a key not
 * recorded. A script forgets the keys it touched: the generation read INCRs the tick (at most every
 * 5 s), and a tick replayed from before it reads as a Redis gone back in time (a reset).
 */
function replaying(live) {
  const recorded = new Map();
  let calls = 0;
  return {
    name: live.name,
    recorded,
    async getMany(keys) {
      calls += 1;
      if (calls % 500 !== 1 && keys.every((k) => recorded.has(k))) return keys.map((k) => recorded.get(k));
      const values = await live.getMany(keys);
      for (let i = 0; i < keys.length; i++) recorded.set(keys[i], values[i]);
      return values;
    },
    run: (script, keys, args, sendBy) => {
      for (const k of keys) recorded.delete(k);
      return live.run(script, keys, args, sendBy);
    },
    close: () => live.close(),
  };
}
const sides = [make('branch', branch)];
if (base) sides.push(make('base', base));
await sides[0].strata.migrate();
const rows = Array.from({ length: 2_000 }, (_, i) => playerRow('ab', i));
for (const s of sides) await s.strata.setMany(s.schema, rows);
const ids = rows.map((r) => r.id);
const rawKey = (id) => `${stack.name}:abraw:${id}`;
const pipe = stack.ioredis.pipeline();
for (const r of rows) pipe.set(rawKey(r.id), JSON.stringify(r), 'PX', 600_000);
await pipe.exec();
const r = stack.ioredis;
for (const s of sides) {
  const got = await s.strata.getMany(s.schema, ids.slice(0, 5));
  if (!(got[3]?.createdAt instanceof Date) || got[3].username !== rows[3].username)
    throw new Error(`${s.label}: not the rows`);
}

const revive = (v) => {
  const row = JSON.parse(v);
  if (row.createdAt !== null) row.createdAt = new Date(row.createdAt);
  if (row.updatedAt !== null) row.updatedAt = new Date(row.updatedAt);
  return row;
};
const batch = ids.slice(0, 1_000);
const rawBatch = batch.map(rawKey);
// --replay: the raw values read once, replayed (the same strings each time, as the sides' are).
const rawValues = replay ? await r.mget(ids.map(rawKey)) : [];
const rawGet = replay ? async (i) => rawValues[i % 2_000] : (i) => r.get(rawKey(ids[i % 2_000]));
const rawMget = replay ? async () => rawValues.slice(0, 1_000) : () => r.mget(rawBatch);
const kinds = { createdAt: 'date', updatedAt: 'date' };
const ownValues = async () => {
  const values = [...sides[0].l2.recorded.values()].filter(
    (v) => typeof v === 'string' && v.startsWith('~1;r'),
  );
  return values.slice(0, 1_000);
};
const decodeOnly = (values) =>
  values.map((v) => branchDriver.jsonCodec.decode(branchDriver.decodeEnvelope(v).payload, kinds));
const payloadOf = (v) => JSON.parse(v.slice(v.indexOf('{')));
// --parts: where the branch's getMany time goes, by hand: MGET of its own keys (the tick first,
// as the engine sends it) alone and + header and codec decode, and MGET of the raw keys alone; then
// both key lists made per call (as an app makes them) + parse or codec decode.
const parts = flag('--parts');
const [, found] = parts ? await r.scan(0, 'MATCH', `*ab-branch*:r:${ids[0]}`, 'COUNT', 1_000_000) : [0, []];
const ownPrefix = parts ? found[0].slice(0, -ids[0].length) : '';
const tick = `${stack.name}-ab-branch:tick`;
const strataKeys = parts
  ? [`${stack.name}-ab-branch:tick`, ...batch.map((id) => found[0].slice(0, -ids[0].length) + id)]
  : [];
const partContestants = parts
  ? [
      { name: 'MGET own keys', op: () => r.mget(strataKeys) },
      { name: 'MGET own keys + decode', op: async () => decodeOnly((await r.mget(strataKeys)).slice(1)) },
      // The same values with their header skipped by hand (no read of it): the payload's parse, then
      // its codec decode (parse + Date revival). What this format's bytes cost before any check.
      {
        name: 'MGET own keys + parse payload',
        op: async () => (await r.mget(strataKeys)).slice(1).map(payloadOf),
      },
      {
        name: 'MGET own keys + codec payload',
        op: async () =>
          (await r.mget(strataKeys))
            .slice(1)
            .map((v) => branchDriver.jsonCodec.decode(v.slice(v.indexOf('{')), kinds)),
      },
      { name: 'MGET raw keys', op: () => r.mget(rawBatch) },
      // The keys made per call, as an app (and Strata) makes them, not a list kept across calls.
      {
        name: 'MGET raw keys made + parse',
        op: async () => (await r.mget(batch.map(rawKey))).map((v) => JSON.parse(v)),
      },
      {
        name: 'MGET own keys made + codec payload',
        op: async () =>
          (await r.mget([tick, ...batch.map((id) => ownPrefix + id)]))
            .slice(1)
            .map((v) => branchDriver.jsonCodec.decode(v.slice(v.indexOf('{')), kinds)),
      },
    ]
  : [];
// --between idle|walk|http: other work between the timed calls, as a contestant of its own (shuffled
// in with the others, not timed against anything): a 1 ms sleep (the process idle, as between a
// server's requests), a 2 MiB memory walk, or a raw @upstash/redis get over the devstack's REST
// endpoint (what the l2 suite has between its TCP samples). Each leaves the next call's caches
// colder; the l2 suite's TCP get ratio reads above this bench's without it for that reason.
const betweenKind = arg('--between', 'none');
const walked = betweenKind === 'walk' ? new Float64Array(2 * 131_072) : undefined;
const betweenOps = {
  none: undefined,
  idle: () => new Promise((resolve) => setTimeout(resolve, 1)),
  walk: async () => {
    let sum = 0;
    for (let j = 0; j < walked.length; j += 8) sum += walked[j] += 1;
    return sum;
  },
  http: (i) => stack.rawUpstash.get(rawKey(ids[(i + 1_000) % 2_000])),
};
if (!(betweenKind in betweenOps)) throw new Error(`--between: none, idle, walk or http, not ${betweenKind}`);
const between = betweenOps[betweenKind]
  ? [{ name: `between: ${betweenKind}`, op: betweenOps[betweenKind] }]
  : [];
const ownKey = (i) => strataKeys[1 + (i % 1_000)];
const ownTier = parts ? branchTcp.createIoredisL2(stack.urls.redisUrl) : undefined;
const guardedTier = parts ? branchDriver.guardL2(branchTcp.createIoredisL2(stack.urls.redisUrl)) : undefined;
const getParts = parts
  ? [
      { name: 'MGET tick+own + parse', op: async (i) => payloadOf((await r.mget([tick, ownKey(i)]))[1]) },
      { name: 'GET own + parse', op: async (i) => payloadOf(await r.get(ownKey(i))) },
      {
        name: 'tier getMany2 + parse',
        op: async (i) => payloadOf((await ownTier.getMany([tick, ownKey(i)]))[1]),
      },
      {
        name: 'guarded getMany2 + parse',
        op: async (i) => payloadOf((await guardedTier.getMany([tick, ownKey(i)]))[1]),
      },
    ]
  : [];
const suites = [];
if (only !== 'many')
  suites.push({
    what: 'get hit',
    iterations: 6_000,
    warmup: 2_000,
    block: 500,
    contestants: [
      { name: 'raw GET + JSON.parse', op: async (i) => JSON.parse(await rawGet(i)) },
      ...sides.map((s) => ({ name: s.label, op: (i) => s.strata.get(s.schema, ids[i % 2_000]) })),
      ...getParts,
      ...between,
    ],
  });
if (only !== 'get')
  suites.push({
    what: 'getMany(1,000) hits',
    iterations: 150,
    warmup: 20,
    block: 4,
    contestants: [
      { name: 'raw MGET + JSON.parse + Date revival', op: async () => (await rawMget()).map(revive) },
      // The issue's own baseline (no Date revival): each side's ratio to it is printed too.
      {
        name: 'raw MGET + JSON.parse',
        op: async () => (await rawMget()).map((v) => JSON.parse(v)),
        plain: true,
      },
      ...sides.map((s) => ({ name: s.label, op: () => s.strata.getMany(s.schema, batch) })),
      // --replay: the branch side's own values decoded by hand (header, payload, codec), no engine.
      ...(replay ? [{ name: 'decode only', op: async () => decodeOnly(await ownValues()) }] : []),
      ...partContestants,
      ...between,
    ],
  });

/**
 * --cpu: `interleave` by process CPU time (user + system) rather than wall time, in blocks of calls:
 * on a loaded machine the wall time of a call with no I/O is mostly waiting for a core.
 */
async function interleaveCpu(contestants, { iterations, block }) {
  const samples = new Map(contestants.map((c) => [c.name, []]));
  const random = seededRandom();
  let i = 0;
  for (let it = -3; it < iterations; it++) {
    for (const c of shuffled(contestants, random)) {
      const start = process.cpuUsage();
      for (let k = 0; k < block; k++) await c.op(i++);
      const used = process.cpuUsage(start);
      if (it >= 0) samples.get(c.name).push(((used.user + used.system) * 1000) / block);
    }
  }
  return new Map([...samples].map(([name, list]) => [name, summarize(list)]));
}

const loadavg = async () =>
  (await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
for (const suite of suites) {
  const ratios = new Map(sides.map((s) => [s.label, []]));
  // Ratios to a second baseline (`plain`: getMany's raw MGET + JSON.parse), by side.
  const plain = suite.contestants.find((c) => c.plain);
  const plainRatios = new Map(sides.map((s) => [s.label, []]));
  // Branch over base within each run: the floor's own drift (±10 % between runs on a loaded
  // 2-core machine) cancels out of it, so it resolves smaller A/B differences than the floor ratios.
  const paired = [];
  for (let run = 0; run < runs; run++) {
    const stats = cpu
      ? await interleaveCpu(suite.contestants, { iterations: 40, block: suite.block })
      : await interleave(suite.contestants, {
          iterations: suite.iterations,
          warmup: suite.warmup,
          maxMs: 60_000,
        });
    const floor = stats.get(suite.contestants[0].name).median;
    const plainFloor = plain && stats.get(plain.name).median;
    const line = suite.contestants.map((c) => {
      const m = stats.get(c.name).median;
      if (ratios.has(c.name)) ratios.get(c.name).push(m / floor);
      if (plainFloor && plainRatios.has(c.name)) plainRatios.get(c.name).push(m / plainFloor);
      return `${c.name} ${(m / 1000).toFixed(1)} µs`;
    });
    if (base) paired.push(stats.get('branch').median / stats.get('base').median);
    console.log(`${suite.what} run ${run + 1}: ${line.join(' | ')}  (load ${await loadavg()})`);
  }
  for (const [label, list] of ratios) {
    const sorted = [...list].sort((a, b) => a - b);
    console.log(
      `${suite.what} ${label}: ${sorted[sorted.length >> 1].toFixed(3)}× ${suite.contestants[0].name} (runs ${sorted.map((x) => x.toFixed(3)).join(', ')})`,
    );
  }
  if (paired.length > 0) {
    const sorted = [...paired].sort((a, b) => a - b);
    console.log(
      `${suite.what} branch / base, paired by run: ${sorted[sorted.length >> 1].toFixed(3)}× (runs ${sorted.map((x) => x.toFixed(3)).join(', ')})`,
    );
  }
  if (plain)
    for (const [label, list] of plainRatios) {
      const sorted = [...list].sort((a, b) => a - b);
      console.log(
        `${suite.what} ${label}: ${sorted[sorted.length >> 1].toFixed(3)}× ${plain.name} (runs ${sorted.map((x) => x.toFixed(3)).join(', ')})`,
      );
    }
}
for (const s of sides) await s.l2.close?.();
await ownTier?.close();
await guardedTier?.close();
await stack.cleanup();
await isolated?.remove();
