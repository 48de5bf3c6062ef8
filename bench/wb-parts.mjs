// Where a write-behind `set`'s wall time goes beyond its floor (ioredis L2, Redis Stream queue on
// its Redis, one set at a time). Interleaved per iteration (shuffled): the floor (a raw ioredis
// MULTI of SET + XADD), Strata's `set`, the very EVALSHA that set sent replayed alone through an L2
// of its own (`script`: the script and the adapter, no engine; the same strings every call),
// Strata's recent EVALSHAs replayed in turn (`scriptvar`: other keys and rows each call, as Strata's
// own), and the same arguments to a script that does nothing (`args`: the call and its arguments).
// Strata's set is cut into phases: `pre` (its call to the script's call), `send` (to the socket
// write), `wait` (to the reply's bytes arriving), `reply` (to the script's promise settling), `post`
// (to the set's promise settling). `--slowlog` also prints Redis' own time per command and connection
// from the slow log (set to log everything during each run, then put back): on a Redis of your own
// (`STRATA_REDIS_URL`), as it changes a server-wide setting.
// `node bench/wb-parts.mjs [--runs 5] [--iterations 3000] [--slowlog] [--bus]`, after a build.
import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { Redis } from 'ioredis';
import { arg, flag } from './lib/args.mjs';
import { openStack, playerRow } from './lib/stack.mjs';
import { interleave } from './lib/stats.mjs';
import { rawWriteBehindSet } from './lib/write-behind-floor.mjs';

const runs = Number(arg('--runs', 5));
const iterations = Number(arg('--iterations', 3_000));
const slowlog = flag('--slowlog');
// --bus: with the Redis pub/sub bus `createStrata` wires (its PUBLISH awaited, `background: 'await'`).
const withBus = flag('--bus');
const stack = await openStack();

// When a command's bytes left and when its reply's arrived (the last of either, on any connection).
const wire = { write: 0n, data: 0n };
async function connection() {
  const redis = new Redis(stack.urls.redisUrl, { protocol: 2, maxRetriesPerRequest: 0, lazyConnect: true });
  await redis.connect();
  const write = redis.stream.write.bind(redis.stream);
  redis.stream.write = (...a) => {
    wire.write = process.hrtime.bigint();
    return write(...a);
  };
  redis.stream.prependListener('data', () => {
    wire.data = process.hrtime.bigint();
  });
  return redis;
}
const strataRedis = await connection();
const replayRedis = await connection();
const live = createIoredisL2(strataRedis);
const replayL2 = createIoredisL2(replayRedis);

const phases = ['pre', 'send', 'wait', 'reply', 'post'];
const times = { strata: new Map(phases.map((p) => [p, []])), script: new Map(phases.map((p) => [p, []])) };
const mark = { start: 0n, run: 0n, settled: 0n };
// Strata's recent script calls (the last one is `script`'s; `scriptvar` takes them in turn).
const history = [];
let h = 0;
const l2 = {
  name: live.name,
  getMany: (keys) => live.getMany(keys),
  run(script, keys, args, sendBy) {
    // The set's script: with a bus on this Redis, its variant that also PUBLISHes (ordered-put-enqueue-publish).
    if (!script.name.startsWith('ordered-put-enqueue')) return live.run(script, keys, args, sendBy);
    history.push({ script, keys: [...keys], args: [...args] });
    if (history.length > 200) history.shift();
    mark.run = process.hrtime.bigint();
    return live.run(script, keys, args, sendBy).then((reply) => {
      mark.settled = process.hrtime.bigint();
      return reply;
    });
  },
  close: () => live.close(),
};
const keyPrefix = `${stack.name}-wbparts`;
const stream = `${stack.name}:wbparts:writes`;
const queue = createRedisStreamQueue({ url: stack.urls.redisUrl, keyPrefix, stream, allowVolatile: true });
const { strata, schema } = stack.strata({
  prefix: 'wbparts',
  l2,
  schema: { writeMode: 'write-behind' },
  writeBehind: { queue, threshold: 1_000_000 },
  ...(withBus && {
    coherence: {
      bus: createRedisPubSubBus({ url: stack.urls.redisUrl, channel: `${stack.name}:wbparts:invalidate` }),
    },
  }),
});
await strata.migrate();
const rows = Array.from({ length: 100 }, (_, i) => playerRow('wbp', i));
const levelled = (i) => ({ ...rows[i % 100], level: (i % 90) + 1 });
const floor = rawWriteBehindSet(stack, 'wbparts-floor');
await strata.set(schema, levelled(0));
const noop = { name: 'noop', source: 'return {1}' };
const record = (side, start, run, settled, end) => {
  const t = times[side];
  t.get('pre').push(Number(run - start));
  t.get('send').push(Number(wire.write - run));
  t.get('wait').push(Number(wire.data - wire.write));
  t.get('reply').push(Number(settled - wire.data));
  t.get('post').push(Number(end - settled));
};
const contestants = [
  { name: 'floor', op: (i) => floor.write(levelled(i)) },
  {
    name: 'strata',
    op: async (i) => {
      const start = process.hrtime.bigint();
      await strata.set(schema, levelled(i));
      record('strata', start, mark.run, mark.settled, process.hrtime.bigint());
    },
  },
  {
    name: 'script',
    op: async () => {
      const { script, keys, args } = history[history.length - 1];
      const run = process.hrtime.bigint();
      await replayL2.run(script, keys, args);
      const settled = process.hrtime.bigint();
      record('script', run, run, settled, settled);
    },
  },
  {
    name: 'scriptvar',
    op: () => {
      const { script, keys, args } = history[h++ % history.length];
      return replayL2.run(script, keys, args);
    },
  },
  {
    name: 'args',
    op: () => {
      const { keys, args } = history[history.length - 1];
      return replayL2.run(noop, keys, args);
    },
  },
];
const addr = async (r) => (await r.client('INFO')).match(/addr=(\S+)/)[1];
const who = new Map([
  [await addr(strataRedis), 'strata'],
  [await addr(replayRedis), 'replays'],
  [await addr(stack.ioredis), 'floor'],
]);
const median = (list) => [...list].sort((a, b) => a - b)[list.length >> 1];
const us = (ns) => (ns / 1000).toFixed(1);
const loadavg = (await import('node:os')).loadavg;
const ratios = new Map(contestants.map((c) => [c.name, []]));
for (let run = 0; run < runs; run++) {
  let logged;
  if (slowlog) {
    logged = await stack.ioredis.config('GET', 'slowlog-log-slower-than', 'slowlog-max-len');
    await stack.ioredis.config('SET', 'slowlog-log-slower-than', '0', 'slowlog-max-len', '100000');
    await stack.ioredis.slowlog('RESET');
  }
  const stats = await interleave(contestants, { iterations, warmup: 200, maxMs: 120_000, seed: run + 1 });
  if (slowlog) {
    const entries = await stack.ioredis.slowlog('GET', '-1');
    await stack.ioredis.config('SET', ...logged);
    await stack.ioredis.slowlog('RESET');
    const by = new Map();
    for (const [, , took, args, client] of entries) {
      const label = `${who.get(client) ?? 'other'} ${String(args[0]).toLowerCase()}`;
      if (!by.has(label)) by.set(label, []);
      by.get(label).push(took);
    }
    const shown = [...by].filter(([, l]) => l.length >= iterations / 2);
    console.log(`  Redis µs per command (median): ${shown.map(([k, l]) => `${k} ${median(l)}`).join(' | ')}`);
  }
  const f = stats.get('floor').median;
  const line = contestants.map((c) => {
    const m = stats.get(c.name).median;
    ratios.get(c.name).push(m / f);
    return `${c.name} ${us(m)}`;
  });
  console.log(
    `run ${run + 1} (µs, median): ${line.join(' | ')}  (load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')})`,
  );
  for (const [side, t] of Object.entries(times)) {
    console.log(`  ${side} phases: ${[...t].map(([p, l]) => `${p} ${us(median(l))}`).join(' | ')}`);
    for (const l of t.values()) l.length = 0;
  }
  for (const s of [stream, floor.stream]) await stack.ioredis.xtrim(s, 'MAXLEN', 0);
}
for (const [name, list] of ratios) {
  const sorted = [...list].sort((a, b) => a - b);
  console.log(
    `${name}: ${median(list).toFixed(3)}× the floor's time (runs ${sorted.map((x) => x.toFixed(3)).join(', ')})`,
  );
}
await stack.ioredis.del(stream, floor.stream);
await strata.flushDirty().catch(() => {});
await strata.close();
replayRedis.disconnect();
strataRedis.disconnect();
await stack.cleanup();
