// Where a write-behind `set` spends its CPU with the Redis Stream queue on the L2's Redis (one
// round trip): `node --cpu-prof bench/profile-write-behind.mjs` (after a build), then
// `node bench/profile-l1.mjs --summary <file>`. Prints the mean time per set next to its floor, one
// raw ioredis MULTI of SET + XADD, measured alternately in the same process. `--bus`: with the Redis
// pub/sub bus on the L2's Redis (the write script publishes; this instance hears its own echo).
import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { alternate } from './lib/alternate.mjs';
import { flag } from './lib/args.mjs';
import { openStack, playerRow } from './lib/stack.mjs';
import { rawWriteBehindSet } from './lib/write-behind-floor.mjs';

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
  ...(flag('--bus') && {
    coherence: {
      bus: createRedisPubSubBus({ url: stack.urls.redisUrl, channel: `${stack.name}:profwb:bus` }),
    },
  }),
});
await strata.migrate();
const rows = Array.from({ length: 100 }, (_, i) => playerRow('pwb', i));
const { write: floor, stream } = rawWriteBehindSet(stack, 'profwb-floor');
const levelled = (i) => ({ ...rows[i % 100], level: (i % 90) + 1 });
const N = Number(process.env.PROFILE_N ?? 5_000);
const us = (ns) => (ns / 1000).toFixed(1);
const m = await alternate(
  (i) => strata.set(schema, levelled(i)),
  (i) => floor(levelled(i)),
  N,
);
console.log(
  `write-behind set over TCP: Strata ${us(m.strata)} µs, floor ${us(m.raw)} µs, ratio ${m.ratio.toFixed(2)}`,
);
await stack.ioredis.del(stream);
await strata.flushDirty();
await strata.close(); // and its L2 and queue
await stack.cleanup();
