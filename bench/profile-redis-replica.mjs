// What reading from a Redis replica with read-your-writes costs (docs/redis-replicas.md): the replica
// L2 (`createIoredisL2(primary, { replica })`: ROLE pipelined before each replica MGET and after each
// script) against the plain L2 on the same primary, alternately in one process, on a throwaway
// primary/replica pair (startRedisReplica). `node bench/profile-redis-replica.mjs` after a build;
// `--concurrent` for 64 calls in flight (CPU-bound: time per call is CPU per call).
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { startRedisReplica } from '@strata/devstack/redis-replica';
import { alternate, alternateConcurrent } from './lib/alternate.mjs';

const concurrent = process.argv.includes('--concurrent');
const pair = await startRedisReplica();
const plain = createIoredisL2(pair.primary.url);
const replicated = createIoredisL2(pair.primary.url, { replica: pair.replica.url });
const SET = { name: 'set', source: "return redis.call('SET', KEYS[1], ARGV[1])" };
const keys = Array.from({ length: 10 }, (_, i) => `bench:replica:${i}`);
try {
  for (const key of keys) await plain.run(SET, [key], ['x'.repeat(200)]);
  await pair.caughtUp();
  const n = Number(process.env.PROFILE_N ?? (concurrent ? 40_000 : 5_000));
  const measure = (a, b) =>
    concurrent ? alternateConcurrent(a, b, n, { inFlight: 64 }) : alternate(a, b, n);
  const reads = await measure(
    () => replicated.getMany(keys),
    () => plain.getMany(keys),
  );
  const writes = await measure(
    (i) => replicated.run(SET, [keys[i % 10]], ['y'.repeat(200)]),
    (i) => plain.run(SET, [keys[i % 10]], ['y'.repeat(200)]),
  );
  const us = (ns) => (ns / 1_000).toFixed(1);
  const stats = replicated.stats();
  console.log(`${concurrent ? '64 in flight' : 'one at a time'}, ${n} calls each, mean per call:`);
  console.log(
    `getMany(10)  replica ${us(reads.strata)} µs, primary only ${us(reads.raw)} µs (+${us(reads.strata - reads.raw)} µs)`,
  );
  console.log(
    `run(SET)     with ROLE ${us(writes.strata)} µs, without ${us(writes.raw)} µs (+${us(writes.strata - writes.raw)} µs)`,
  );
  console.log(`replica reads ${stats.replica}, primary reads ${JSON.stringify(stats.primary)}`);
} finally {
  await plain.close();
  await replicated.close();
  await pair.stop();
}
