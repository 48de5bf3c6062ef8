// Where the bytes of an L2 hit go: V8's sampling heap profiler (objects the GC took counted too)
// over a tight loop of Strata `get` (or `--many`: getMany of 1,000) hits over Redis TCP (ioredis,
// `l1: false`), next to raw ioredis GET (MGET) + JSON.parse in the same process. Prints the bytes
// per call of each side and, for Strata, the allocation sites (function, file:line) by bytes per call.
// `node bench/l2-alloc.mjs [--many] [--calls 20000] [--top 40]` after a build.
import { Session } from 'node:inspector/promises';
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { arg, flag } from './lib/args.mjs';
import { openStack, playerRow } from './lib/stack.mjs';

const many = flag('--many');
const calls = Number(arg('--calls', many ? 200 : 20_000));
const top = Number(arg('--top', 40));
const stack = await openStack();
const l2 = createIoredisL2(stack.urls.redisUrl);
const { strata, schema } = stack.strata({ prefix: 'alloc', schema: { l1: false }, l2 });
await strata.migrate();
const rows = Array.from({ length: 2_000 }, (_, i) => playerRow('al', i));
await strata.setMany(schema, rows);
const ids = rows.map((r) => r.id);
const rawKey = (id) => `${stack.name}:rawalloc:${id}`;
const pipe = stack.ioredis.pipeline();
for (const r of rows) pipe.set(rawKey(r.id), JSON.stringify(r), 'PX', 600_000);
await pipe.exec();
const batch = ids.slice(0, 1_000);
const rawBatch = batch.map(rawKey);
const r = stack.ioredis;

const sides = many
  ? {
      raw: async () => (await r.mget(rawBatch)).map((v) => JSON.parse(v)),
      strata: () => strata.getMany(schema, batch),
    }
  : {
      raw: async (i) => JSON.parse(await r.get(rawKey(ids[i % 2_000]))),
      strata: (i) => strata.get(schema, ids[i % 2_000]),
    };

const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');
for (const [name, op] of Object.entries(sides)) {
  for (let i = 0; i < calls / 4; i++) await op(i);
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 32,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  for (let i = 0; i < calls; i++) await op(i);
  const { profile } = await session.post('HeapProfiler.stopSampling');
  const sites = new Map();
  let total = 0;
  const walk = (node, path) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*\/(node_modules|packages)\//, '');
    const here = `${functionName || '(anon)'} ${file}:${lineNumber + 1}`;
    if (node.selfSize > 0) {
      total += node.selfSize;
      const site = `${here}  <- ${path}`;
      sites.set(site, (sites.get(site) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, functionName || path);
  };
  walk(profile.head, '');
  console.log(`${name}: ${(total / calls).toFixed(0)} bytes per call (sampled, ${calls} calls)`);
  if (name === 'strata' || flag('--raw-sites'))
    for (const [site, bytes] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(`  ${(bytes / calls).toFixed(0).padStart(7)} B  ${site}`);
}
session.disconnect();
await l2.close?.();
await stack.cleanup();
