// Instructions per L2 read, for `valgrind --tool=callgrind` (counts do not move with the machine's
// load, but V8's compile and GC timing moves them by up to a third: compare several runs):
// `valgrind --tool=callgrind --smc-check=all-non-file node bench/l2-instr.mjs [--many] [--dupe] [--base <dir>] [--calls 100]`
// runs set-up and a warm-up, then `--calls` Strata gets (or getMany of 1,000) over the ioredis L2
// with its replies replayed (recorded once: no I/O, so the count is the process's own work). Run it
// twice with two `--calls` and take the difference over the calls between them: set-up cancels out.
// Without valgrind it prints CPU per call; with `node --trace-deopt` it shows deoptimization loops.
import * as branchTcp from '@strata/adapter-node/redis-tcp';
import * as branchCore from '@strata/core';
import * as branchDrizzle from '@strata/core/drizzle';
import { arg, baseBuild, flag } from './lib/args.mjs';
import { openStack, playerRow } from './lib/stack.mjs';

const many = flag('--many');
const calls = Number(arg('--calls', 100));
const build = (await baseBuild()) ?? { core: branchCore, drizzle: branchDrizzle, tcp: branchTcp };
const stack = await openStack();
const live = build.tcp.createIoredisL2(stack.urls.redisUrl);
const recorded = new Map();
const l2 = {
  name: live.name,
  async getMany(keys) {
    if (keys.every((k) => recorded.has(k))) return keys.map((k) => recorded.get(k));
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
const schema = build.core.defineSchema({ table: stack.players, l1: false });
const strata = new build.core.Strata({
  l2,
  l3: build.drizzle.createDrizzleL3(stack.db, { migrationsSchema: stack.name }),
  keyPrefix: `${stack.name}-instr`,
  schemas: [schema],
});
await strata.migrate();
const rows = Array.from({ length: 1_000 }, (_, i) => playerRow('in', i));
await strata.setMany(schema, rows);
const ids = rows.map((r) => r.id);
// --dupe: the batch names one id twice (its positions are then copied out by position).
const batch = flag('--dupe') ? [...ids, ids[0]] : ids;
const op = many ? () => strata.getMany(schema, batch) : (i) => strata.get(schema, ids[i % 1_000]);
for (let i = 0; i < (many ? 30 : 3_000); i++) await op(i);
const n = many ? calls : calls * 100;
const cpu = process.cpuUsage();
for (let i = 0; i < n; i++) await op(i);
const used = process.cpuUsage(cpu);
console.log(
  `done: ${n} ${many ? 'getMany(1,000)' : 'get'} calls, ${((used.user + used.system) / n).toFixed(1)} µs CPU a call`,
);
await strata.close();
await live.close();
await stack.cleanup();
