// Promises created per L2 hit (`get`, and `getMany` of 1,000), Strata against raw ioredis GET /
// MGET + JSON.parse, live over Redis TCP: what the engine adds between the reply and the caller's
// promise. Counted by an async_hooks init hook: every promise, ioredis' own too (the raw rows show
// what the client makes by itself), and with the hook on V8 makes one more per `await`, so the
// counts compare, they are not each side's cost. `node bench/l2-hops.mjs [--base <dir>]`.
import { createHook } from 'node:async_hooks';
import * as branchTcp from '@strata/adapter-node/redis-tcp';
import * as branchCore from '@strata/core';
import * as branchDrizzle from '@strata/core/drizzle';
import { arg, baseBuild } from './lib/args.mjs';
import { openStack, playerRow } from './lib/stack.mjs';

const base = await baseBuild(arg('--base'));
const stack = await openStack();
const make = (label, { core, drizzle, tcp }) => {
  const l2 = tcp.createIoredisL2(stack.urls.redisUrl);
  const schema = core.defineSchema({ table: stack.players, l1: false });
  const strata = new core.Strata({
    l2,
    l3: drizzle.createDrizzleL3(stack.db, { migrationsSchema: stack.name }),
    keyPrefix: `${stack.name}-hops-${label}`,
    schemas: [schema],
  });
  return { label, strata, schema, l2 };
};
const sides = [make('branch', { core: branchCore, drizzle: branchDrizzle, tcp: branchTcp })];
if (base) sides.push(make('base', base));
await sides[0].strata.migrate();
const rows = Array.from({ length: 2_000 }, (_, i) => playerRow('hp', i));
for (const s of sides) await s.strata.setMany(s.schema, rows);
const ids = rows.map((r) => r.id);
const r = stack.ioredis;
const rawKey = (id) => `${stack.name}:hopsraw:${id}`;
const pipe = r.pipeline();
for (const row of rows) pipe.set(rawKey(row.id), JSON.stringify(row), 'PX', 600_000);
await pipe.exec();
const batch = ids.slice(0, 1_000);
const rawBatch = batch.map(rawKey);

let promises = 0;
const hook = createHook({
  init: (_id, type) => {
    if (type === 'PROMISE') promises += 1;
  },
});
const ops = [
  ['get: raw GET + JSON.parse', async (i) => JSON.parse(await r.get(rawKey(ids[i % 2_000]))), 2_000],
  ...sides.map((s) => [`get: ${s.label}`, (i) => s.strata.get(s.schema, ids[i % 2_000]), 2_000]),
  ['getMany: raw MGET + JSON.parse', async () => (await r.mget(rawBatch)).map((v) => JSON.parse(v)), 40],
  ...sides.map((s) => [`getMany: ${s.label}`, () => s.strata.getMany(s.schema, batch), 40]),
];
for (const [name, op, n] of ops) {
  for (let i = 0; i < n; i++) await op(i);
  hook.enable();
  promises = 0;
  for (let i = 0; i < 200; i++) await op(i);
  hook.disable();
  const perCall = promises / 200;
  console.log(`${name}: ${perCall.toFixed(1)} promises/call`);
}
for (const s of sides) await s.l2.close?.();
await stack.cleanup();
