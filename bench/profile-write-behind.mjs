// Where a write-behind `set` spends its CPU with the Redis Stream queue on the L2's Redis (one
// round trip): `node --cpu-prof bench/profile-write-behind.mjs` (after a build), then
// `node bench/profile-l1.mjs --summary <file>`. Prints the mean time per set next to its floor, one
// raw ioredis MULTI of SET + XADD, measured alternately in the same process.
import { createIoredisL2, createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { openStack, playerRow } from './lib/stack.mjs';

const stack = await openStack();
const l2 = createIoredisL2(stack.urls.redisUrl);
const keyPrefix = `${stack.name}-profwb`;
const queue = createRedisStreamQueue({
  url: stack.urls.redisUrl,
  keyPrefix,
  stream: `${stack.name}:profwb:writes`,
  allowVolatile: true,
});
const { strata, schema } = stack.strata({
  prefix: 'profwb',
  l2,
  schema: { writeMode: 'write-behind' },
  writeBehind: { queue, threshold: 1_000_000 },
});
await strata.migrate();
const rows = Array.from({ length: 100 }, (_, i) => playerRow('pwb', i));
const stream = `${stack.name}:profwb:floor`;
const floor = (row) =>
  stack.ioredis
    .multi()
    .set(`${stack.name}:profwb:r:${row.id}`, JSON.stringify(row), 'PX', 600_000)
    .xadd(
      stream,
      '*',
      'w',
      JSON.stringify({ schema: 'players', id: row.id, op: 'set', row: JSON.stringify(row) }),
    )
    .exec();
const N = Number(process.env.PROFILE_N ?? 5_000);
for (let i = 0; i < 50; i++) {
  await strata.set(schema, rows[i % 100]);
  await floor(rows[i % 100]);
}
let strataNs = 0n;
let rawNs = 0n;
for (let i = 0; i < N; i++) {
  const row = { ...rows[i % 100], level: (i % 90) + 1 };
  let t = process.hrtime.bigint();
  await strata.set(schema, row);
  strataNs += process.hrtime.bigint() - t;
  t = process.hrtime.bigint();
  await floor(row);
  rawNs += process.hrtime.bigint() - t;
}
const us = (ns) => (Number(ns) / N / 1000).toFixed(1);
console.log(
  `write-behind set over TCP: Strata ${us(strataNs)} µs, floor ${us(rawNs)} µs, ratio ${(Number(strataNs) / Number(rawNs)).toFixed(2)}`,
);
await strata.flushDirty();
await strata.close();
await queue.close();
await l2.close();
await stack.cleanup();
