// Strata's own CPU per L2 hit, without I/O: the ioredis L2's replies recorded once, then replayed
// (resolved promises), so what is timed is the engine alone. A script's keys are read live again
// after it: the generation read (at most every 5 s) INCRs the tick, and replaying the tick from
// before it would read as a Redis reset (and send every read to Postgres). `node bench/l2-cpu.mjs [--many] [n]`;
// PROFILE_OUT=<file> for a CPU profile of the timed calls.
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { startProfile } from './lib/profile.mjs';
import { openStack, playerRow } from './lib/stack.mjs';

const many = process.argv.includes('--many');
const n = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? (many ? 300 : 200_000));
const stack = await openStack();
const live = createIoredisL2(stack.urls.redisUrl);
const recorded = new Map();
let replay = false;
const tier = {
  name: 'replay',
  async getMany(keys) {
    if (replay && keys.every((k) => recorded.has(k))) return keys.map((k) => recorded.get(k));
    const values = await live.getMany(keys);
    for (let i = 0; i < keys.length; i++) recorded.set(keys[i], values[i]);
    return values;
  },
  run: (script, keys, args) => {
    for (const k of keys) recorded.delete(k);
    return live.run(script, keys, args);
  },
  close: () => live.close(),
};
const { strata, schema } = stack.strata({ prefix: 'cpu', schema: { l1: false }, l2: tier });
await strata.migrate();
const rows = Array.from({ length: 2_000 }, (_, i) => playerRow('pc', i));
await strata.setMany(schema, rows);
const ids = rows.map((r) => r.id);
await strata.getMany(schema, ids);
replay = true;
const batch = ids.slice(0, 1_000);
const op = many ? () => strata.getMany(schema, batch) : (i) => strata.get(schema, ids[i % 2_000]);
for (let i = 0; i < (many ? 50 : 20_000); i++) await op(i);
const profiling = process.env.PROFILE_OUT && (await startProfile(100));
const t = process.hrtime.bigint();
for (let i = 0; i < n; i++) await op(i);
const ns = Number(process.hrtime.bigint() - t) / n;
if (profiling) await profiling.stop(process.env.PROFILE_OUT);
console.log(`${many ? 'getMany(1000)' : 'get'}: ${(ns / 1000).toFixed(2)} µs of engine CPU per call`);
await strata.close?.();
await stack.cleanup();
