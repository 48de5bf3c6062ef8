// Reads of a hot row while Postgres is slow: each query takes SLOW_MS more than it should (the real
// Postgres, its findMany delayed), and the row's TTL is short, so reads keep finding it expired.
// Without a stale window such a read waits for Postgres; with one (`stale: '1m'`) it answers the
// row it has and refreshes it in the background. Reads are spaced out (one every GAP_MS, one at a
// time), as a steady trickle of requests would be. Issue 17 asked for the p99 of each.

import { playerRow } from '../lib/stack.mjs';
import { quantile } from '../lib/stats.mjs';

const SLOW_MS = 50;
const TTL = '20ms';
const GAP_MS = 2;
const READS = 300;
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The L3 with every findMany SLOW_MS late: Postgres under load, the rest of the tier untouched. */
function slowed(l3) {
  return new Proxy(l3, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === 'findMany')
        return async (schema, ids) => {
          await pause(SLOW_MS);
          return value.call(target, schema, ids);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export async function stalenessSuite(stack) {
  const section = `Read during an L3 slowdown (+${SLOW_MS} ms per query), TTL ${TTL}, one read every ${GAP_MS} ms`;
  const cases = [
    ['Strata get, no stale window', {}],
    ["Strata get, stale: '1m'", { stale: '1m' }],
  ];
  const rows = [];
  const p99s = [];
  for (const [i, [name, windows]] of cases.entries()) {
    const { strata, schema } = stack.strata({
      prefix: `slow${i}`,
      l3: slowed(stack.l3()),
      schema: { l1: { ttl: TTL }, l2: { ttl: TTL }, ...windows },
    });
    if (i === 0) await strata.migrate();
    const row = playerRow(`slow${i}`, i);
    await strata.set(schema, row);
    const samples = [];
    for (let r = 0; r < READS; r++) {
      const started = process.hrtime.bigint();
      const got = await strata.get(schema, row.id);
      samples.push(Number(process.hrtime.bigint() - started));
      if (got.id !== row.id) throw new Error(`staleness suite: ${name} returned a wrong row`);
      await pause(GAP_MS);
    }
    await strata.settled();
    const stats = strata.stats();
    const p99 = quantile(samples, 0.99);
    p99s.push(p99);
    rows.push({
      section,
      name,
      median: quantile(samples, 0.5),
      p99,
      base: cases[0][0],
      rt: '',
      note: `${stats.l3Reads} L3 queries, ${stats.staleHits} stale answers, ${stats.refreshes} background refreshes`,
      headline: i === 1,
      index: i,
    });
  }
  return {
    rows,
    targets: [
      {
        target: 'Read p99 during an L3 slowdown: a stale window keeps it off Postgres',
        value: `${(p99s[1] / 1e6).toFixed(2)} ms with stale, ${(p99s[0] / 1e6).toFixed(2)} ms without`,
        met: p99s[1] < (SLOW_MS * 1e6) / 2,
      },
    ],
  };
}
