// Where a Strata L2 hit spends its CPU: `node --cpu-prof bench/profile-l2.mjs` (after a build),
// `--many` for getMany(1,000), `--http` for the Upstash REST L2 instead of ioredis (TCP),
// `--concurrent` for 256 gets in flight (CPU-bound: time per call is CPU per call; `--strata-only` or
// `--raw-only` profiles one side); then `node bench/profile-l1.mjs --summary <file>`
// (or PROFILE_OUT=<file>: the timed calls only).
// No L1 (`l1: false`): every timed read is an L2 hit. `--l1`: L1 on, but holding 1,000 rows, and the
// getMany alternates two batches of 1,000 (every read still an L2 hit, plus L1's fill and eviction). Prints the mean time per call next to the raw
// client's (ioredis GET/MGET + JSON.parse, or @upstash/redis), measured alternately in the same process.
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { alternate, alternateConcurrent } from './lib/alternate.mjs';
import { startProfile } from './lib/profile.mjs';
import { openStack, playerRow } from './lib/stack.mjs';

const many = process.argv.includes('--many');
const concurrent = process.argv.includes('--concurrent');
const http = process.argv.includes('--http');
const withL1 = process.argv.includes('--l1');
const stack = await openStack();
const tcpL2 = http ? undefined : createIoredisL2(stack.urls.redisUrl);
const { strata, schema } = stack.strata({
  prefix: 'profl2',
  schema: withL1 ? {} : { l1: false },
  ...(withL1 && { l1: { maxEntries: 1_000 } }),
  ...(tcpL2 && { l2: tcpL2 }),
});
await strata.migrate();
const rows = Array.from({ length: 2_000 }, (_, i) => playerRow('pl2', i));
await strata.setMany(schema, rows);
const ids = rows.map((r) => r.id);
const rawKey = (id) => `${stack.name}:rawp:${id}`;
const pipe = stack.ioredis.pipeline();
for (const r of rows) pipe.set(rawKey(r.id), JSON.stringify(r), 'PX', 600_000);
await pipe.exec();
const batch = ids.slice(0, 1_000);
const rawBatch = batch.map(rawKey);

const batches = [batch, ids.slice(1_000, 2_000)];
const strataOp = many
  ? (i) => strata.getMany(schema, withL1 ? batches[i & 1] : batch)
  : (i) => strata.get(schema, ids[i % 2_000]);
const rawOp = http
  ? many
    ? () => stack.rawUpstash.mget(...rawBatch)
    : (i) => stack.rawUpstash.get(rawKey(ids[i % 2_000]))
  : many
    ? async () => (await stack.ioredis.mget(...rawBatch)).map((v) => JSON.parse(v))
    : async (i) => JSON.parse(await stack.ioredis.get(rawKey(ids[i % 2_000])));

const N = Number(process.env.PROFILE_N ?? (many ? 300 : concurrent ? 200_000 : 20_000));
// PROFILE_OUT=<file>: a CPU profile of the timed calls only (set-up, migration and warm-up left out).
const profiling = process.env.PROFILE_OUT && (await startProfile());
const m = concurrent
  ? await alternateConcurrent(strataOp, rawOp, N, {
      ...(process.argv.includes('--strata-only') && { only: 'strata' }),
      ...(process.argv.includes('--raw-only') && { only: 'raw' }),
    })
  : await alternate(strataOp, rawOp, N);
if (profiling) await profiling.stop(process.env.PROFILE_OUT);
const us = (ns) => (ns / 1000).toFixed(concurrent ? 2 : 1);
console.log(
  `${many ? 'getMany(1000)' : 'get'} over ${http ? 'HTTP' : 'TCP'}${concurrent ? ', 256 in flight (per completed call)' : ''}: Strata ${us(m.strata)} µs, raw ${us(m.raw)} µs, ratio ${m.ratio.toFixed(2)}`,
);
await tcpL2?.close();
await stack.cleanup();
