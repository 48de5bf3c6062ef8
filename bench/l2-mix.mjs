// Why the L2 suite's TCP ratio is higher than l2-parts': raw ioredis GET + JSON.parse and Strata's
// get (ioredis L2, `l1: false`) interleaved alone, then with the suite's HTTP contestants, then with
// a contestant doing only CPU work (no I/O), each op cut into phases: start -> command sent to
// ioredis (`pre`), sent -> its reply's first socket read (`wait`; `send`: ioredis' own part of it, making
// and writing the command), that read -> op done (`post`).
// Also counts ops whose end came after a macrotask queued at their reply's socket read (a yield to
// the event loop after the reply), GC pauses by contestant and, with `--hooks` (async_hooks: slower
// for every op alike), the time other macrotasks took while an op waited for its reply.
// `node --import ./bench/lib/peer-resolve.mjs bench/l2-mix.mjs [iterations] [--hooks]` (after a build).
import { createHook } from 'node:async_hooks';
import { PerformanceObserver } from 'node:perf_hooks';
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { Redis } from 'ioredis';
import { openStack, playerRow } from './lib/stack.mjs';
import { interleave } from './lib/stats.mjs';

const iterations = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 1_500);
const WARMUP = 3_000;
const N = 2_000;
const stack = await openStack();
const rows = Array.from({ length: N }, (_, i) => playerRow('mix', i));
const ids = rows.map((r) => r.id);
const rawKey = (id) => `${stack.name}:raw:${id}`;
const http = stack.strata({ prefix: 'mix', schema: { l1: false } });
await http.strata.migrate();
await http.strata.setMany(http.schema, rows);
const pipe = stack.ioredis.pipeline();
for (const r of rows) pipe.set(rawKey(r.id), JSON.stringify(r), 'PX', 600_000);
await pipe.exec();

// One connection per TCP contestant, each watched: when its command is written, when its reply is read.
const hr = () => Number(process.hrtime.bigint());
const at = {
  sent: 0,
  read: 0,
  op: 0,
  yielded: false,
  waiting: false,
  foreign: 0,
  cbStart: 0,
  types: new Map(),
};
// Macrotask callbacks that run while an op waits for its reply (between its write and its read):
// their time, by resource type.
const types = new Map();
// Opt-in: the hooks slow every op (alike), so the phases without them are the ones to compare.
const hooks = process.argv.includes('--hooks');
if (hooks)
  createHook({
    init(id, type) {
      types.set(id, type);
    },
    before() {
      if (at.waiting) at.cbStart = hr();
    },
    after(id) {
      if (at.waiting && at.cbStart) {
        const d = hr() - at.cbStart;
        at.foreign += d;
        const t = types.get(id) ?? '?';
        at.types.set(t, (at.types.get(t) ?? 0) + d);
      }
      at.cbStart = 0;
    },
    destroy(id) {
      types.delete(id);
    },
  }).enable();
const watched = async (method) => {
  const redis = new Redis(stack.urls.redisUrl, { protocol: 2 });
  await redis.get('x');
  const send = redis[method].bind(redis);
  redis[method] = (...args) => {
    at.sent = hr();
    at.waiting = true;
    at.foreign = 0;
    const reply = send(...args);
    at.written = hr();
    return reply;
  };
  redis.stream.prependListener('data', () => {
    at.read = hr();
    at.waiting = false;
    const op = at.op;
    setImmediate(() => {
      if (at.op === op) at.yielded = true;
    });
  });
  return redis;
};
const rawRedis = await watched('get');
const strataRedis = await watched('mget');
const tcp = stack.strata({ prefix: 'mix', schema: { l1: false }, l2: createIoredisL2(strataRedis) });
const key = (i) => ids[i % N];

let current = '';
const phases = new Map();
const phased = (name, fn) => ({
  name,
  op: async (i) => {
    at.op += 1;
    at.yielded = false;
    const start = hr();
    const value = await fn(i);
    const end = hr();
    if (i >= WARMUP) {
      let p = phases.get(name);
      if (!p) {
        p = { pre: [], send: [], wait: [], post: [], yields: 0, foreign: [] };
        phases.set(name, p);
      }
      p.foreign.push(at.foreign);
      p.pre.push(at.sent - start);
      p.send.push(at.written - at.sent);
      p.wait.push(at.read - at.sent);
      p.post.push(end - at.read);
      if (at.yielded) p.yields += 1;
    }
    return value;
  },
});
const raw = phased('raw GET + JSON.parse', async (i) => JSON.parse(await rawRedis.get(rawKey(key(i)))));
// What Strata answers has createdAt as a Date (as the batch suite's second baseline does for MGET).
const rawDates = phased('raw + Date revival', async (i) => {
  const row = JSON.parse(await rawRedis.get(rawKey(key(i))));
  if (row.createdAt !== null) row.createdAt = new Date(row.createdAt);
  if (row.updatedAt !== null) row.updatedAt = new Date(row.updatedAt);
  return row;
});
const strata = phased('Strata get', (i) => tcp.strata.get(tcp.schema, key(i)));
const httpRaw = { name: 'raw @upstash/redis get', op: (i) => stack.rawUpstash.get(rawKey(key(i))) };
const httpStrata = { name: 'Strata get (Upstash)', op: (i) => http.strata.get(http.schema, key(i)) };
/** GC pauses are put down to the contestant whose op was last started. */
const named = (c) => ({
  ...c,
  op: (i) => {
    current = c.name;
    return c.op(i);
  },
});
const junk = Array.from({ length: 3_000 }, (_, i) => ({ a: i, b: `s${i}`, c: [i, i * 2] }));
const cpu = { name: 'CPU only', op: async () => JSON.parse(JSON.stringify(junk)).length };

const gc = new Map();
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gc.set(current, (gc.get(current) ?? 0) + e.duration);
}).observe({ entryTypes: ['gc'] });

const med = (list) => [...list].sort((a, b) => a - b)[list.length >> 1] / 1000;
for (const [label, contestants] of [
  ['alone', [raw, rawDates, strata]],
  ['with HTTP', [httpRaw, httpStrata, raw, rawDates, strata]],
  ['with CPU', [cpu, raw, rawDates, strata]],
]) {
  phases.clear();
  at.types.clear();
  gc.clear();
  const stats = await interleave(contestants.map(named), { iterations, warmup: WARMUP, maxMs: 60_000 });
  const base = stats.get(raw.name).median;
  if (hooks)
    console.log(
      `${label}: callbacks run while an op waited, by type (ms):`,
      [...at.types].map(([t, d]) => `${t} ${(d / 1e6).toFixed(0)}`).join(', '),
    );
  for (const c of [raw, rawDates, strata]) {
    const p = phases.get(c.name);
    const median = stats.get(c.name).median;
    const waited = hooks
      ? `  other callbacks in wait ${med(p.foreign).toFixed(1)} µs (mean ${(p.foreign.reduce((a, b) => a + b, 0) / p.foreign.length / 1000).toFixed(1)})`
      : '';
    console.log(
      `${label.padEnd(10)} ${c.name.padEnd(22)} ${(median / 1000).toFixed(1).padStart(6)} µs ${(median / base).toFixed(2)}×` +
        `  pre ${med(p.pre).toFixed(1)} wait (send ${med(p.send).toFixed(1)}) ${med(p.wait).toFixed(1)} post ${med(p.post).toFixed(1)} µs${waited}` +
        `  yielded after reply ${p.yields}/${p.pre.length}  gc ${(gc.get(c.name) ?? 0).toFixed(0)} ms`,
    );
  }
}
console.log(
  'load',
  (await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' '),
);
await Promise.all([rawRedis.quit(), strataRedis.quit()]);
await stack.cleanup();
