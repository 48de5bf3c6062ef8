// Why the batch suite's TCP getMany(1,000) ratio (wall time of single calls) reads higher than
// `l2-ab.mjs --cpu` (CPU time in blocks): each call of every contestant is timed by both clocks at
// once, interleaved per iteration (shuffled), in one process: Strata's getMany of 1,000 L2 hits
// (`l1: false`, ioredis L2), raw MGET + JSON.parse (+ Date revival), raw MGET of Strata's own keys
// and of the raw keys (the transport alone), and busy loops of fixed CPU (controls: how often a
// burst of that length waits for a core on this machine). Per contestant: medians of wall and CPU,
// of wall − CPU (time not on this process' CPU: Redis, the socket, waiting for a core), and the
// share of calls that waited more than 1 ms; then Strata's ratios by each clock.
// `node bench/l2-wall-cpu.mjs [--iterations 120]` (add `--single-threaded-gc` to node to rule out
// waits for V8's GC helper threads).
import { loadavg } from 'node:os';
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { arg } from './lib/args.mjs';
import { openStack, playerRow } from './lib/stack.mjs';
import { quantile, seededRandom, shuffled } from './lib/stats.mjs';

const iterations = Number(arg('--iterations', 120));
const stack = await openStack();
const rawKey = (id) => `${stack.name}:rawwc:${id}`;
const rows = Array.from({ length: 1_000 }, (_, i) => playerRow('wc', i));
const tcpL2 = createIoredisL2(stack.urls.redisUrl);
const { strata, schema } = stack.strata({ prefix: 'wallcpu', schema: { l1: false }, l2: tcpL2 });
await strata.migrate();
await strata.setMany(schema, rows);
const pipe = stack.ioredis.pipeline();
for (const r of rows) pipe.set(rawKey(r.id), JSON.stringify(r), 'PX', 600_000);
await pipe.exec();
const ids = rows.map((r) => r.id);
await strata.getMany(schema, ids.slice(0, 2)); // reads the generation once
// Strata's own keys, as its read sends them: the tick first, then one key per row.
const [, found] = await stack.ioredis.scan(0, 'MATCH', `*${stack.name}-wallcpu*:r:wc0`, 'COUNT', 1_000_000);
const rowKeyPrefix = found[0].slice(0, -'wc0'.length);
const ownKeys = [`${stack.name}-wallcpu:tick`, ...ids.map((id) => rowKeyPrefix + id)];
const rawKeys = ids.map(rawKey);
const chars = (list) => list.reduce((n, v) => n + (v?.length ?? 0), 0);
const [own, raw] = [await stack.ioredis.mget(ownKeys), await stack.ioredis.mget(rawKeys)];
console.log(
  `MGET request: Strata's keys ${chars(ownKeys)} chars, raw ${chars(rawKeys)}; reply: ${chars(own)} chars, raw ${chars(raw)}`,
);

const revive = (v) => {
  const row = JSON.parse(v);
  if (row.createdAt !== null) row.createdAt = new Date(row.createdAt);
  if (row.updatedAt !== null) row.updatedAt = new Date(row.updatedAt);
  return row;
};
/** CPU for `us` microseconds, in one synchronous burst. */
const busy = (us) => async () => {
  const end = process.hrtime.bigint() + BigInt(us * 1_000);
  while (process.hrtime.bigint() < end);
};
const contestants = [
  {
    name: 'raw MGET + JSON.parse',
    op: async () => (await stack.ioredis.mget(rawKeys)).map((v) => JSON.parse(v)),
  },
  { name: 'raw MGET + JSON.parse + Date', op: async () => (await stack.ioredis.mget(rawKeys)).map(revive) },
  { name: 'Strata getMany', op: () => strata.getMany(schema, ids) },
  { name: "MGET of Strata's keys", op: () => stack.ioredis.mget(ownKeys) },
  { name: 'MGET of the raw keys', op: () => stack.ioredis.mget(rawKeys) },
  { name: 'busy 1.0 ms', op: busy(1_000) },
  { name: 'busy 1.7 ms', op: busy(1_700) },
  { name: 'busy 2.5 ms', op: busy(2_500) },
];
const samples = new Map(contestants.map((c) => [c.name, { wall: [], cpu: [] }]));
const random = seededRandom();
for (let it = -5; it < iterations; it++) {
  for (const c of shuffled(contestants, random)) {
    const cpu0 = process.cpuUsage();
    const wall0 = process.hrtime.bigint();
    await c.op();
    const wall = Number(process.hrtime.bigint() - wall0) / 1_000;
    const cpu = process.cpuUsage(cpu0);
    if (it >= 0) {
      samples.get(c.name).wall.push(wall);
      samples.get(c.name).cpu.push(cpu.user + cpu.system);
    }
  }
}
const median = (list) => quantile(list, 0.5);
console.log(
  `load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, ${iterations} calls each`,
);
for (const [name, { wall, cpu }] of samples) {
  const waited = wall.map((w, i) => w - cpu[i]);
  const long = waited.filter((w) => w > 1_000).length / waited.length;
  console.log(
    `${name.padEnd(30)} wall ${median(wall).toFixed(0)} µs  CPU ${median(cpu).toFixed(0)} µs  wall − CPU ${median(waited).toFixed(0)} µs  waited > 1 ms: ${(100 * long).toFixed(0)} %`,
  );
}
const ratio = (a, b, clock) => (median(samples.get(a)[clock]) / median(samples.get(b)[clock])).toFixed(2);
for (const base of ['raw MGET + JSON.parse', 'raw MGET + JSON.parse + Date'])
  console.log(
    `Strata getMany / ${base}: wall ${ratio('Strata getMany', base, 'wall')}×, CPU ${ratio('Strata getMany', base, 'cpu')}×`,
  );
await tcpL2.close();
await stack.cleanup();
