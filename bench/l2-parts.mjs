// Where an L2 hit over TCP spends its time beyond the raw client's GET: each layer alone,
// interleaved per iteration in a rotating order. `node bench/l2-parts.mjs [n]` (after a build).

import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { guardL2 } from '@strata/core/driver';
import { openStack, playerRow } from './lib/stack.mjs';

const n = Number(process.argv[2] ?? 20_000);
const stack = await openStack();
const tcpL2 = createIoredisL2(stack.urls.redisUrl);
const { strata, schema } = stack.strata({ prefix: 'parts', schema: { l1: false }, l2: tcpL2 });
await strata.migrate();
const rows = Array.from({ length: 2_000 }, (_, i) => playerRow('pp', i));
await strata.setMany(schema, rows);
const ids = rows.map((r) => r.id);
const rawKey = (id) => `${stack.name}:rawp:${id}`;
const tickKey = `${stack.name}:rawtick`;
const pipe = stack.ioredis.pipeline();
for (const r of rows) pipe.set(rawKey(r.id), JSON.stringify(r), 'PX', 600_000);
pipe.set(tickKey, '5');
await pipe.exec();
const ownL2 = createIoredisL2(stack.urls.redisUrl);
const guarded = guardL2(createIoredisL2(stack.urls.redisUrl));
const r = stack.ioredis;
const k = (i) => rawKey(ids[i % 2_000]);
const ops = {
  'raw GET+parse': async (i) => JSON.parse(await r.get(k(i))),
  'raw MGET2+parse': async (i) => JSON.parse((await r.mget([tickKey, k(i)]))[1]),
  'tier getMany2+parse': async (i) => JSON.parse((await ownL2.getMany([tickKey, k(i)]))[1]),
  'guarded getMany2+parse': async (i) => JSON.parse((await guarded.getMany([tickKey, k(i)]))[1]),
  'strata get': (i) => strata.get(schema, ids[i % 2_000]),
};
const names = Object.keys(ops);
const total = Object.fromEntries(names.map((x) => [x, 0n]));
for (let i = 0; i < 2_000; i++) for (const x of names) await ops[x](i);
for (let i = 0; i < n; i++) {
  for (let j = 0; j < names.length; j++) {
    const x = names[(i + j) % names.length];
    const t = process.hrtime.bigint();
    await ops[x](i);
    total[x] += process.hrtime.bigint() - t;
  }
}
const base = Number(total[names[0]]);
for (const x of names)
  console.log(
    `${x.padEnd(24)} ${(Number(total[x]) / n / 1000).toFixed(1).padStart(7)} µs  ${(Number(total[x]) / base).toFixed(3)}×`,
  );
console.log(
  'load',
  (await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' '),
);
await Promise.all([tcpL2.close(), ownL2.close(), guarded.close()]);
await stack.cleanup();
