// Promises created per write-behind `set` (Redis Stream queue on the L2's Redis, ioredis L2, one
// set at a time), Strata against its one-round-trip floor (a raw ioredis MULTI of SET + XADD), live
// over Redis TCP: how many before the set's socket write (what runs ahead of the request) and in
// all. Counted as bench/l2-hops.mjs counts them (an async_hooks init hook: every promise, ioredis'
// own too, and one more per `await` while the hook is on), so the counts compare; they are not
// each side's cost. `node bench/wb-hops.mjs [--base <dir>]`.
import { createHook } from 'node:async_hooks';
import net from 'node:net';
import * as branchTcp from '@strata/adapter-node/redis-tcp';
import * as branchCore from '@strata/core';
import * as branchDrizzle from '@strata/core/drizzle';
import { arg, baseBuild } from './lib/args.mjs';
import { openStack, playerRow } from './lib/stack.mjs';
import { rawWriteBehindSet } from './lib/write-behind-floor.mjs';
import { writeBehindSide } from './lib/write-behind-side.mjs';

const base = await baseBuild(arg('--base'));
const stack = await openStack();
let promises = 0;
/** Promises made before the call's first socket write (-1: not written yet). */
let beforeWrite = -1;
const writeGeneric = net.Socket.prototype._writeGeneric;
net.Socket.prototype._writeGeneric = function (...args) {
  if (beforeWrite < 0) beforeWrite = promises;
  return writeGeneric.apply(this, args);
};
const hook = createHook({
  init: (_id, type) => {
    if (type === 'PROMISE') promises += 1;
  },
});
const make = (label, build) => writeBehindSide(stack, 'wbhops', label, build);
const sides = [make('branch', { core: branchCore, drizzle: branchDrizzle, tcp: branchTcp })];
if (base) sides.push(make('base', base));
for (const s of sides) await s.strata.migrate();
const rows = Array.from({ length: 100 }, (_, i) => playerRow('wbhops', i));
const levelled = (i) => ({ ...rows[i % 100], level: (i % 90) + 1 });
const floor = rawWriteBehindSet(stack, 'wbhops-floor');
const ops = [
  ['floor: MULTI of SET + XADD', (i) => floor.write(levelled(i))],
  ...sides.map((s) => [`set: ${s.label}`, (i) => s.strata.set(s.schema, levelled(i))]),
];
for (const [name, op] of ops) {
  for (let i = 0; i < 300; i++) await op(i);
  let before = 0;
  let total = 0;
  for (let i = 0; i < 200; i++) {
    promises = 0;
    beforeWrite = -1;
    hook.enable();
    await op(i);
    hook.disable();
    before += beforeWrite;
    total += promises;
  }
  console.log(
    `${name}: ${(before / 200).toFixed(1)} promises before its socket write, ${(total / 200).toFixed(1)} a call`,
  );
}
for (const s of sides) {
  await s.strata.flushDirty().catch((err) => console.error(`${s.label} flush: ${err.message}`));
  await s.strata.close();
  await stack.ioredis.del(s.stream);
}
await stack.ioredis.del(floor.stream);
await stack.cleanup();
