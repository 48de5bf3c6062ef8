// L2 hit (L1 miss): every contestant reads rows that are in Redis and not in any memory tier.
// Over HTTP (the devstack's Upstash REST endpoint): raw @upstash/redis `get` (JSON, its automatic
// deserialization) vs Strata with `l1: false` on the same endpoint. Over TCP: raw ioredis `get` +
// JSON.parse vs Strata's ioredis L2 vs bentocache with only its Redis L2 (ioredis) layer.
// Each op is one call, one sample; rows are JSON on every side. Interleaved per iteration in a
// shuffled order (lib/stats.mjs): with whole rounds per contestant the TCP ratio followed the load.
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { BentoCache, bentostore } from 'bentocache';
import { redisDriver } from 'bentocache/drivers/redis';
import { playerRow } from '../lib/stack.mjs';
import { interleave } from '../lib/stats.mjs';

const N = 2_000;

export async function l2Suite(stack, { quick = false } = {}) {
  const rows = Array.from({ length: N }, (_, i) => playerRow('l2p', i));
  const ids = rows.map((r) => r.id);
  const rawKey = (id) => `${stack.name}:raw:${id}`;

  const http = stack.strata({ prefix: 'l2', schema: { l1: false } });
  await http.strata.migrate();
  await http.strata.setMany(http.schema, rows);
  const tcpL2 = createIoredisL2(stack.urls.redisUrl);
  const tcp = stack.strata({ prefix: 'l2', schema: { l1: false }, l2: tcpL2 });

  const pipe = stack.ioredis.pipeline();
  for (const r of rows) pipe.set(rawKey(r.id), JSON.stringify(r), 'PX', 600_000);
  await pipe.exec();

  const bento = new BentoCache({
    default: 'redis',
    stores: {
      redis: bentostore({ prefix: `${stack.name}:bento` }).useL2Layer(
        redisDriver({
          connection: { host: '127.0.0.1', port: Number(new URL(stack.urls.redisUrl).port || 6379) },
        }),
      ),
    },
  });
  for (const r of rows) await bento.set({ key: r.id, value: r, ttl: '10m' });

  // Every contestant reads hits only, in one round trip: checked before timing.
  const check = stack.count();
  const a = await http.strata.get(http.schema, ids[1]);
  const one = check();
  if (one.upstash !== 1 || one.sql !== 0)
    throw new Error(`L2 suite: Strata L2 hit took ${JSON.stringify(one)}`);
  const b = await stack.rawUpstash.get(rawKey(ids[1]));
  const c = await tcp.strata.get(tcp.schema, ids[1]);
  const d = await bento.get({ key: ids[1] });
  for (const v of [a, b, c, d])
    if (v?.username !== rows[1].username) throw new Error('L2 suite: a contestant missed');

  const key = (i) => ids[i % N];
  const contestants = [
    { name: 'raw @upstash/redis get (HTTP)', op: (i) => stack.rawUpstash.get(rawKey(key(i))) },
    { name: 'Strata get, L2 Upstash (HTTP)', op: (i) => http.strata.get(http.schema, key(i)) },
    {
      name: 'raw ioredis get + JSON.parse (TCP)',
      op: async (i) => JSON.parse(await stack.ioredis.get(rawKey(key(i)))),
    },
    { name: 'Strata get, L2 ioredis (TCP)', op: (i) => tcp.strata.get(tcp.schema, key(i)) },
    { name: 'bentocache get, Redis L2 only (TCP)', op: (i) => bento.get({ key: key(i) }) },
  ];
  const stats = await interleave(contestants, {
    iterations: quick ? 100 : 1_500,
    // 3,000 rounds, not 100: after 100 the first of the three runs was still warming up (its TCP
    // ratio the highest of the three in every trial: 1.34, 1.47, 1.69 against 1.19-1.52 after it);
    // after 3,000 it is not (1.24, 1.22), for about 3 s more per run.
    warmup: quick ? 100 : 3_000,
    maxMs: 40_000,
  });
  await bento.disconnectAll();
  await tcpL2.close();

  const rowsOut = contestants.map((c, i) => ({
    section: 'L2 hit get (L1 miss)',
    name: c.name,
    ...stats.get(c.name),
    base: i < 2 ? contestants[0].name : contestants[2].name,
    rt: i === 0 || i === 1 ? '1 / 0' : '1 (TCP) / 0',
    headline: i === 1 || i === 3,
  }));
  const ratio = stats.get(contestants[1].name).median / stats.get(contestants[0].name).median;
  const tcpRatio = stats.get(contestants[3].name).median / stats.get(contestants[2].name).median;
  // Issue 15's two targets, each judged: over Upstash REST ≤ 1.05×, over Redis TCP ≤ 1.10×. (Until
  // 2026-12-07 one row judged Upstash against 1.10× and only showed the TCP ratio.)
  const targets = [
    {
      target: 'L2 hit over Upstash REST: Strata ≤ 1.05× raw @upstash/redis get',
      value: `${ratio.toFixed(2)}×`,
      met: ratio <= 1.05,
    },
    {
      target: 'L2 hit over Redis TCP: Strata ≤ 1.10× raw ioredis GET',
      value: `${tcpRatio.toFixed(2)}×`,
      met: tcpRatio <= 1.1,
    },
  ];
  return { rows: rowsOut, targets };
}
