// The client's CPU per write-behind `set` without its I/O: this branch against a baseline build in
// the same process (`--base <dir>` as for wb-ab.mjs), interleaved in blocks (shuffled), timed by the
// process's CPU. Each side's L2 answers the write script (ORDERED_PUT_ENQUEUE) itself, as Redis
// would (the tick, the versions and the search generation moving on; every key held a row), so
// only Strata's own work and the adapter's are measured; every other script goes to Redis, the real
// tick first raised to the last one answered (no reply reads as a Redis gone back in time). Nothing is
// queued for real: the flush finds nothing. Run after a build:
// `--bus`: each side with the Redis pub/sub bus on the L2's Redis (its write script, answered here,
// publishes nothing: no echo comes back).
// `node bench/wb-replay.mjs [--base <dir>] [--runs 5] [--blocks 30] [--block 500] [--bus]`; prints per run
// each side's median CPU per set and their ratio, then the median of the ratios with their spread.
import * as branchTcp from '@strata/adapter-node/redis-tcp';
import * as branchCore from '@strata/core';
import * as branchDrizzle from '@strata/core/drizzle';
import { arg, baseBuild, flag } from './lib/args.mjs';
import { openStack, playerRow } from './lib/stack.mjs';
import { seededRandom, shuffled, summarize } from './lib/stats.mjs';
import { writeBehindSide } from './lib/write-behind-side.mjs';

const runs = Number(arg('--runs', 5));
const blocks = Number(arg('--blocks', 30));
const block = Number(arg('--block', 500));
const base = await baseBuild();
const stack = await openStack();

/** `live`, but the write script answered here once Redis answered it the first time (see above). */
function answering(live) {
  let tick = 0;
  let version = 0;
  let searchGeneration = 0;
  let tickKey;
  /** Redis' tick raised to the last one answered here, never lowered (requests in flight INCR it). */
  const raiseTick = () =>
    tickKey &&
    stack.ioredis.eval(
      "if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end",
      1,
      tickKey,
      String(tick),
    );
  return {
    name: live.name,
    // The tick first, as for a script: a read of it (the generation's check) must not find Redis
    // behind the ticks answered here (that reads as a reset, and a long run gave up on the write).
    async getMany(keys) {
      await raiseTick();
      return live.getMany(keys);
    },
    async run(script, keys, args, sendBy) {
      const writeScript =
        script.name === 'ordered-put-enqueue' || script.name === 'ordered-put-enqueue-publish';
      if (writeScript && tick > 0) {
        // KEYS: tick, generation, counter, search generation, pending index, stream, rows…, registry.
        const n = keys.length - 7;
        // Two ahead: a request sent to Redis meanwhile INCRs from `tick` and answers one above it.
        tick += 2;
        const out = [tick, 0, version + 1, ++searchGeneration];
        for (let i = 0; i < n; i++) out.push(1);
        version += n;
        return out;
      }
      await raiseTick();
      const reply = await live.run(script, keys, args, sendBy);
      if (writeScript && Array.isArray(reply) && reply[1] === 0) {
        tickKey = keys[0];
        tick = Number(reply[0]);
        version = Number(reply[2]) + keys.length - 8;
        searchGeneration = Number(reply[3]);
      } else if (tick > 0 && Array.isArray(reply) && typeof reply[0] === 'number') {
        tick = Math.max(tick, reply[0]);
      }
      return reply;
    },
    close: () => live.close(),
  };
}

const make = (label, build) =>
  writeBehindSide(stack, 'wbrp', label, build, {
    wrapL2: answering,
    extra: flag('--bus') && {
      coherence: {
        bus: build.tcp.createRedisPubSubBus({
          url: stack.urls.redisUrl,
          channel: `${stack.name}:wbrp-${label}:bus`,
        }),
      },
    },
  });
const sides = [make('branch', { core: branchCore, drizzle: branchDrizzle, tcp: branchTcp })];
if (base) sides.push(make('base', base));
for (const s of sides) await s.strata.migrate();
const rows = Array.from({ length: 100 }, (_, i) => playerRow('wbrp', i));
const levelled = (i) => ({ ...rows[i % 100], level: (i % 90) + 1 });
const contestants = sides.map((s) => ({ name: s.label, op: (i) => s.strata.set(s.schema, levelled(i)) }));
const ratios = [];
for (let run = 0; run < runs; run++) {
  const samples = new Map(contestants.map((c) => [c.name, []]));
  const random = seededRandom(run + 1);
  let i = 0;
  for (let it = -3; it < blocks; it++) {
    for (const c of shuffled(contestants, random)) {
      const start = process.cpuUsage();
      for (let k = 0; k < block; k++) await c.op(i++);
      const used = process.cpuUsage(start);
      // ns per set, as summarize expects
      if (it >= 0) samples.get(c.name).push(((used.user + used.system) * 1000) / block);
    }
  }
  const median = new Map([...samples].map(([name, list]) => [name, summarize(list).median / 1000]));
  const line = [...median].map(([name, m]) => `${name} ${m.toFixed(2)} µs`).join(' | ');
  const ratio = base ? median.get('branch') / median.get('base') : undefined;
  if (ratio !== undefined) ratios.push(ratio);
  console.log(`run ${run + 1}: ${line}${ratio === undefined ? '' : `  branch/base ${ratio.toFixed(3)}`}`);
}
if (ratios.length > 0) {
  const sorted = [...ratios].sort((a, b) => a - b);
  const spread = sorted.map((x) => x.toFixed(3)).join(', ');
  console.log(`branch/base: ${sorted[sorted.length >> 1].toFixed(3)} (runs ${spread})`);
}
for (const s of sides) {
  await stack.ioredis.del(s.stream);
  await s.strata.close();
}
await stack.cleanup();
