// L1 hit `get`: every cache holds the same 10,000 frozen player rows (objects, no serialization on
// any side: bentocache's memory driver with `serialize: false`), keys made before timing, each
// contestant cycling through the same keys. Blocks of 1,000 calls per sample. Strata runs with the
// clock `createStrata` gives a Node process (`nodeClock`: read at most once per macrotask).

import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { nodeClock } from '@strata/adapter-node';
import { createMemoryL1, freezeRow } from '@strata/core/driver';
import { openTelemetryTracing } from '@strata/core/otel';
import { createCache, DefaultStatefulContext, Namespace } from '@unkey/cache';
import { MemoryStore } from '@unkey/cache/stores';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { LRUCache } from 'lru-cache';
import { playerRow } from '../lib/stack.mjs';
import { interleave } from '../lib/stats.mjs';

const N = 10_000;

export async function l1Suite(stack, { quick = false } = {}) {
  const rows = Array.from({ length: N }, (_, i) => freezeRow(playerRow('l1p', i)));
  const ids = rows.map((r) => r.id);

  const map = new Map(rows.map((r) => [r.id, r]));
  const lru = new LRUCache({ max: 20_000, ttl: 60_000 });
  for (const r of rows) lru.set(r.id, r);
  const tier = createMemoryL1({ maxEntries: 20_000, defaultTtlMs: 60_000 });
  for (const r of rows) tier.set(r.id, r);

  const bento = new BentoCache({
    default: 'mem',
    stores: { mem: bentostore().useL1Layer(memoryDriver({ maxItems: 20_000, serialize: false })) },
  });
  for (const r of rows) await bento.set({ key: r.id, value: r, ttl: '1m' });

  const ctx = new DefaultStatefulContext();
  const unkeyStore = new MemoryStore({ persistentMap: new Map() });
  const unkey = createCache({
    players: new Namespace(ctx, { stores: [unkeyStore], fresh: 60_000, stale: 120_000 }),
  });
  for (const r of rows) await unkey.players.set(r.id, r);

  // With the clock createStrata gives a Node process (Date.now() read at most once per macrotask:
  // a loop of awaited hits is one): core alone reads it on every await.
  const { strata, schema } = stack.strata({
    prefix: 'l1',
    schema: { l1: { ttl: '5m', maxEntries: 20_000 } },
    clock: nodeClock(),
  });
  await strata.migrate();
  await strata.setMany(
    schema,
    rows.map((r) => ({ ...r })),
  );
  // The same get with spans: an SDK provider with no processor (spans made, recorded, dropped), and
  // openTelemetryTracing() on the API's global tracer with no provider registered. No context
  // manager: AsyncLocalStorage's would slow every promise of the process on Node 20, other rows too.
  const traced = (tracing) =>
    stack.strata({
      prefix: 'l1',
      schema: { l1: { ttl: '5m', maxEntries: 20_000 } },
      clock: nodeClock(),
      tracing,
    });
  const provider = new BasicTracerProvider();
  const withProvider = traced(openTelemetryTracing(provider.getTracer('bench')));
  const noProvider = traced(openTelemetryTracing());
  for (const other of [withProvider, noProvider])
    for (let i = 0; i < N; i += 1_000) await other.strata.getMany(other.schema, ids.slice(i, i + 1_000));
  // Every key now answers from L1 without a round trip: checked, not assumed.
  const done = stack.count();
  for (const s of [{ strata, schema }, withProvider, noProvider])
    for (const id of ids) await s.strata.get(s.schema, id);
  const rt = done();
  if (rt.upstash + rt.sql !== 0) throw new Error(`L1 suite: Strata gets left L1 (${JSON.stringify(rt)})`);
  for (const [name, value] of [
    ['lru', lru.get(ids[5])],
    ['bento', await bento.get({ key: ids[5] })],
    ['unkey', (await unkey.players.get(ids[5])).val],
    ['strata', await strata.get(schema, ids[5])],
  ]) {
    if (value?.username !== rows[5].username) throw new Error(`L1 suite: ${name} does not hold the rows`);
  }

  const key = (i) => ids[i % N];
  const contestants = [
    { name: 'Map.get', sync: true, op: (i) => map.get(key(i)) },
    { name: 'lru-cache.get', sync: true, op: (i) => lru.get(key(i)) },
    { name: 'await lru-cache.get', op: async (i) => lru.get(key(i)) },
    { name: 'Strata MemoryL1.get (the tier alone)', sync: true, op: (i) => tier.get(key(i)) },
    { name: 'Strata get', op: (i) => strata.get(schema, key(i)) },
    { name: 'Strata peek (synchronous L1 read)', sync: true, op: (i) => strata.peek(schema, key(i)) },
    // Issue 17: the per-call status, as the demo API reads every player.
    { name: 'Strata findWithStatus (status on)', op: (i) => strata.findWithStatus(schema, key(i)) },
    {
      name: 'Strata get, spans on (OTel SDK provider)',
      op: (i) => withProvider.strata.get(withProvider.schema, key(i)),
    },
    {
      name: 'Strata get, spans on (OTel API, no provider)',
      op: (i) => noProvider.strata.get(noProvider.schema, key(i)),
    },
    { name: 'bentocache get (memory L1)', op: (i) => bento.get({ key: key(i) }) },
    { name: '@unkey/cache get (memory store)', op: (i) => unkey.players.get(key(i)) },
  ];
  const stats = await interleave(contestants, {
    rounds: quick ? 2 : 6,
    samplesPerRound: quick ? 20 : 60,
    block: 1_000,
    warmup: 20,
    maxMs: 40_000,
  });
  await bento.disconnectAll?.();
  await provider.shutdown();

  const base = stats.get('lru-cache.get').median;
  const s = stats.get('Strata get').median;
  const rowsOut = contestants.map((c) => ({
    section: 'L1 hit get',
    name: c.name,
    ...stats.get(c.name),
    base: 'lru-cache.get',
    rt: '0 / 0',
  }));
  const peek = stats.get('Strata peek (synchronous L1 read)').median;
  const awaitLru = stats.get('await lru-cache.get').median;
  // Issue 15's goals: an awaited get at the floor of a Promise API, peek near a synchronous LRU.
  const targets = [
    {
      target: 'L1 hit: Strata get ≤ 1.2× await lru-cache.get (the floor of a Promise API)',
      value: `${(s / awaitLru).toFixed(2)}× (${(s / base).toFixed(1)}× lru-cache.get; await lru-cache.get alone is ${(awaitLru / base).toFixed(1)}×)`,
      met: s <= 1.2 * awaitLru,
    },
    {
      target: 'L1 hit: Strata peek ≤ 1.5× lru-cache.get',
      value: `${(peek / base).toFixed(2)}×`,
      met: peek <= 1.5 * base,
    },
    {
      target: 'L1 hit: Strata faster than bentocache and @unkey/cache',
      value: `${(s / stats.get('bentocache get (memory L1)').median).toFixed(2)}× bentocache, ${(s / stats.get('@unkey/cache get (memory store)').median).toFixed(2)}× @unkey/cache`,
      met:
        s < stats.get('bentocache get (memory L1)').median &&
        s < stats.get('@unkey/cache get (memory store)').median,
    },
  ];
  return { rows: rowsOut, targets };
}
