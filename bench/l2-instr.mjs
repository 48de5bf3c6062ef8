// Instructions per L2 read, for `valgrind --tool=callgrind` (counts repeat under load, unlike time):
// `valgrind --tool=callgrind --smc-check=all-non-file node bench/l2-instr.mjs [--many] [--base <dir>] [--calls 100]`
// runs set-up and a warm-up, then `--calls` Strata gets (or getMany of 1,000) over the ioredis L2
// with its replies replayed (recorded once: no I/O, so the count is the process's own work). Run it
// twice with two `--calls` and take the difference over the calls between them: set-up cancels out.
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
const op = many ? () => strata.getMany(schema, ids) : (i) => strata.get(schema, ids[i % 1_000]);
for (let i = 0; i < (many ? 30 : 3_000); i++) await op(i);
for (let i = 0; i < (many ? calls : calls * 100); i++) await op(i);
console.log(`done: ${many ? calls : calls * 100} ${many ? 'getMany(1,000)' : 'get'} calls`);
await strata.close();
await live.close();
await stack.cleanup();
