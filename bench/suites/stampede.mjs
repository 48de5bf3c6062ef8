// Stampede: 1,000 concurrent gets of one cold key (only in Postgres), in one process. Counts the
// L3 queries each library makes. Strata coalesces concurrent misses per key; bentocache
// (memory L1 + Redis L2) runs `getOrSet` with a factory doing the same raw Drizzle select;
// @unkey/cache `swr` (memory store) likewise; a hand-written cache-aside without coalescing shows
// what the protection saves.
//
// The cache-aside baseline is made to miss for real: left to race, its calls go over HTTP one after
// another, so most arrived after the first SET and it made a handful of queries, not 1,000 (a
// baseline that flattered itself). Here every call's L2 GET completes (a miss) before any call goes
// on, as when 1,000 requests land within one miss's round trip: all 1,000 selects reach Postgres,
// together (as many at once as the pool has connections), then 1,000 SETs.

import { createCache, DefaultStatefulContext, Namespace } from '@unkey/cache';
import { MemoryStore } from '@unkey/cache/stores';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { eq } from 'drizzle-orm';
import { playerRow } from '../lib/stack.mjs';

const CONCURRENCY = 1_000;

export async function stampedeSuite(stack) {
  const { players, db, rawUpstash } = stack;
  const rows = ['strata', 'bento', 'unkey', 'raw'].map((who, i) => playerRow(`st${who}`, i));
  const { strata, schema } = stack.strata({ prefix: 'stampede' });
  await strata.migrate();
  await stack.insertCold(rows);
  let factoryCalls = 0;
  const select = async (id) => {
    factoryCalls += 1;
    return (await db.select().from(players).where(eq(players.id, id)).limit(1))[0] ?? null;
  };
  const bento = new BentoCache({
    default: 'tiered',
    stores: {
      tiered: bentostore({ prefix: `${stack.name}:bst` })
        .useL1Layer(memoryDriver({ maxItems: 1_000, serialize: false }))
        .useL2Layer(
          redisDriver({
            connection: { host: '127.0.0.1', port: Number(new URL(stack.urls.redisUrl).port || 6379) },
          }),
        ),
    },
  });
  const unkey = createCache({
    players: new Namespace(new DefaultStatefulContext(), {
      stores: [new MemoryStore({ persistentMap: new Map() })],
      fresh: 60_000,
      stale: 120_000,
    }),
  });
  const rawKey = (id) => `${stack.name}:rawst:${id}`;
  // A barrier after the GETs: released when all CONCURRENCY calls have looked in L2 and missed.
  const cacheAside = () => {
    let looked = 0;
    let release;
    const allLooked = new Promise((done) => {
      release = done;
    });
    return async (id) => {
      const cached = await rawUpstash.get(rawKey(id));
      looked += 1;
      if (looked === CONCURRENCY) release();
      await allLooked;
      if (cached) return cached;
      const row = await select(id);
      await rawUpstash.set(rawKey(id), JSON.stringify(row), { px: 60_000 });
      return row;
    };
  };

  const cases = [
    ['Strata get', rows[0].id, (id) => strata.get(schema, id), 'sql'],
    [
      'bentocache getOrSet (memory L1 + Redis L2)',
      rows[1].id,
      (id) => bento.getOrSet({ key: id, factory: () => select(id), ttl: '1m' }),
      'factory',
    ],
    [
      '@unkey/cache swr (memory store)',
      rows[2].id,
      async (id) => (await unkey.players.swr(id, select)).val,
      'factory',
    ],
    ['raw cache-aside, no coalescing (all 1,000 miss L2)', rows[3].id, cacheAside(), 'factory'],
  ];
  const out = [];
  const targets = [];
  for (const [name, id, op, how] of cases) {
    factoryCalls = 0;
    const done = stack.count();
    const started = process.hrtime.bigint();
    const results = await Promise.all(Array.from({ length: CONCURRENCY }, () => op(id)));
    const ns = Number(process.hrtime.bigint() - started);
    const rt = done();
    const queries = how === 'sql' ? rt.sql : factoryCalls;
    if (results.some((r) => r?.id !== id)) throw new Error(`stampede: ${name} returned a wrong row`);
    out.push({
      section: 'Stampede: 1,000 concurrent gets, one cold key',
      name,
      median: ns,
      p99: Number.NaN,
      rt: `${rt.upstash} / ${queries}`,
      note: `${queries} L3 ${queries === 1 ? 'query' : 'queries'}; time for all 1,000`,
      queries,
      headline: name === 'Strata get',
    });
    if (name === 'Strata get') {
      targets.push({
        target: 'Stampede: 1 L3 query for 1,000 concurrent gets',
        value: `${queries}`,
        met: queries === 1,
      });
    }
  }
  await bento.disconnectAll();
  return { rows: out, targets };
}
