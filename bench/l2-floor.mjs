// What a getMany(1,000) of L2 hits over TCP costs at the least, next to Strata's: raw MGET +
// JSON.parse (the bench's baseline), + the Date revival a user needs (what Strata's JSON codec
// does), rows whose dates are stored as epoch numbers, and MGET of Strata's own values decoded by
// hand (envelope + codec, no engine), and each MGET alone. Interleaved per iteration, shuffled; medians.
// `node bench/l2-floor.mjs [iterations]` (after a build).
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { decodeEnvelope, jsonCodec } from '@strata/core/driver';
import { openStack, playerRow } from './lib/stack.mjs';
import { interleave } from './lib/stats.mjs';

const iterations = Number(process.argv[2] ?? 300);
const stack = await openStack();
const tcpL2 = createIoredisL2(stack.urls.redisUrl);
const { strata, schema } = stack.strata({ prefix: 'floor', schema: { l1: false }, l2: tcpL2 });
await strata.migrate();
const rows = Array.from({ length: 1_000 }, (_, i) => playerRow('pf', i));
await strata.setMany(schema, rows);
const ids = rows.map((r) => r.id);
const isoKeys = ids.map((id) => `${stack.name}:iso:${id}`);
const numKeys = ids.map((id) => `${stack.name}:num:${id}`);
const pipe = stack.ioredis.pipeline();
rows.forEach((r, i) => {
  pipe.set(isoKeys[i], JSON.stringify(r), 'PX', 600_000);
  pipe.set(numKeys[i], JSON.stringify({ ...r, createdAt: r.createdAt.getTime() }), 'PX', 600_000);
});
await pipe.exec();
// Strata's own keys, found by scanning for one row's key (the key layout is the engine's business).
const [, found] = await stack.ioredis.scan(0, 'MATCH', `*${ids[0]}`, 'COUNT', 100_000);
const strataKey = found.find((k) => k.endsWith(`:${ids[0]}`) && !k.startsWith(`${stack.name}:`));
const strataKeys = ids.map((id) => strataKey.slice(0, -ids[0].length) + id);
const kinds = { createdAt: 'date', updatedAt: 'date' };
const r = stack.ioredis;
const contestants = [
  { name: 'raw MGET + JSON.parse', op: async () => (await r.mget(isoKeys)).map((v) => JSON.parse(v)) },
  {
    name: 'raw MGET + JSON.parse + Date revival (codec)',
    op: async () => (await r.mget(isoKeys)).map((v) => jsonCodec.decode(v, kinds)),
  },
  {
    name: 'raw MGET + JSON.parse, epoch-ms dates + new Date',
    op: async () =>
      (await r.mget(numKeys)).map((v) => {
        const o = JSON.parse(v);
        o.createdAt = new Date(o.createdAt);
        return o;
      }),
  },
  {
    name: "raw MGET of Strata's values + envelope + codec",
    op: async () => (await r.mget(strataKeys)).map((v) => jsonCodec.decode(decodeEnvelope(v).payload, kinds)),
  },
  {
    name: "raw MGET of Strata's values + envelope + JSON.parse",
    op: async () => (await r.mget(strataKeys)).map((v) => JSON.parse(decodeEnvelope(v).payload)),
  },
  { name: 'Strata getMany', op: () => strata.getMany(schema, ids) },
  { name: 'raw MGET alone', op: () => r.mget(isoKeys) },
  { name: "raw MGET of Strata's values alone", op: () => r.mget(strataKeys) },
];
const check = await contestants[3].op();
if (check[5].username !== rows[5].username) throw new Error('floor: not the rows');
const stats = await interleave(contestants, { iterations, warmup: 50, maxMs: 120_000 });
const base = stats.get(contestants[0].name).median;
for (const c of contestants) {
  const m = stats.get(c.name).median;
  console.log(`${c.name.padEnd(48)} ${(m / 1000).toFixed(0).padStart(6)} µs  ${(m / base).toFixed(2)}×`);
}
console.log(
  'load',
  (await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' '),
);
await tcpL2.close();
await stack.cleanup();
