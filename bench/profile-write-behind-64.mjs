// Where write-behind `set`s spend their CPU with 64 in flight (group commit) and the Redis Stream
// queue on the L2's Redis: `node --cpu-prof bench/profile-write-behind-64.mjs` (after a build), then
// `node bench/profile-l1.mjs --summary <file>`. Prints sets/s and the mean batch size.
import { createIoredisL2, createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { openStack, playerRow } from './lib/stack.mjs';
import { closedLoop, counter } from './lib/throughput.mjs';

const stack = await openStack();
const l2 = createIoredisL2(stack.urls.redisUrl);
const keyPrefix = `${stack.name}-profwb64`;
const queue = createRedisStreamQueue({
  url: stack.urls.redisUrl,
  keyPrefix,
  stream: `${stack.name}:profwb64:writes`,
  allowVolatile: true,
});
const { strata, schema } = stack.strata({
  prefix: 'profwb64',
  l2,
  schema: { writeMode: 'write-behind' },
  writeBehind: { queue, threshold: 1_000_000 },
});
await strata.migrate();
const rows = Array.from({ length: 1_000 }, (_, i) => playerRow('pwb64', i));
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 64);
const MS = Number(process.env.PROFILE_MS ?? 3_000);
const next = counter();
await closedLoop((i) => strata.set(schema, { ...rows[i % 1_000], level: (i % 90) + 1 }), {
  inFlight: IN_FLIGHT,
  ms: 300,
  next,
});
const scripts = await stack.ioredis.info('commandstats');
const evals = (text) => Number(/cmdstat_evalsha:calls=(\d+)/.exec(text)?.[1] ?? 0);
const before = evals(scripts);
const { ops, ns } = await closedLoop((i) => strata.set(schema, { ...rows[i % 1_000], level: (i % 90) + 1 }), {
  inFlight: IN_FLIGHT,
  ms: MS,
  next,
});
const calls = evals(await stack.ioredis.info('commandstats')) - before;
console.log(
  `write-behind, ${IN_FLIGHT} in flight: ${Math.round(ops / (ns / 1e9))} sets/s, ${(ops / Math.max(calls, 1)).toFixed(1)} sets per script (EVALSHA calls on the whole Redis: ${calls})`,
);
await stack.ioredis.del(`${stack.name}:profwb64:writes`);
await strata.flushDirty();
await strata.close();
await stack.cleanup();
