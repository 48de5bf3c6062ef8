// Round trips per public operation: HTTP requests to the Upstash endpoint, HTTP requests to the Neon
// endpoint and the SQL statements they carry (a neon-http batch is one request, several statements), with L3 over neon-http (the Workers set-up), so
// "Neon HTTP" counts what a Worker pays per call. A manual clock holds time still, so the schema's
// L2 generation (re-read at most every 5 s) and TTLs never move during the count: the numbers are
// exact. packages/core/test/round-trips.test.ts asserts the same table.
import { createMemoryQueue, Q } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { playerRow } from '../lib/stack.mjs';

export async function roundTripsSuite(stack) {
  const clock = manualClock();
  const common = { driver: 'neon-http', prefix: 'rt', clock };
  const a = stack.strata(common);
  const b = stack.strata(common); // a second instance: its L1 is empty
  const c = stack.strata(common);
  // An app of its own beside the write-through one: a table of its own (one app owns a table's versions).
  const wb = stack.strata({
    ...common,
    prefix: 'rtwb',
    table: 'players_rtwb',
    schema: { writeMode: 'write-behind' },
    writeBehind: { queue: createMemoryQueue(), threshold: 1_000_000 },
  });
  const { strata, schema } = a;
  await strata.migrate();
  await wb.strata.migrate();
  const row = (p, i) => playerRow(p, i);
  const ids = (p, n, from = 0) => Array.from({ length: n }, (_, i) => `${p}${from + i}`);
  // State for every operation, made before counting anything.
  await strata.setMany(
    schema,
    Array.from({ length: 300 }, (_, i) => row('rtw', i)),
  );
  await stack.insertCold([
    ...Array.from({ length: 101 }, (_, i) => row('rtc', i)),
    ...Array.from({ length: 100 }, (_, i) => row('rtm', i)),
    row('rte', 0),
  ]);
  for (const s of [a, b, c, wb]) await s.strata.exists(s.schema, 'warm-the-generation');
  // The write-behind counter starts once per Redis (from a Postgres epoch): not a cost of each set.
  await wb.strata.set(wb.schema, row('rtb', 999));
  await strata.searchCached(schema, Q().where('level > $1', 0).limit(5).build()); // warms the search generation

  const table = [];
  const count = async (op, note, fn) => {
    const done = stack.count();
    await fn();
    const rt = done();
    table.push({ op, upstash: rt.upstash, neon: rt.neon, sql: rt.neonStatements, note });
  };
  const q = Q().where('level > $1', 10).orderBy('level').desc().limit(20).build();
  await count('get, L1 hit', '', () => strata.get(schema, 'rtw1'));
  await count('get, L2 hit (L1 miss)', 'fills L1', () => b.strata.get(b.schema, 'rtw2'));
  await count('get, L3 hit (cold)', 'MGET miss, select, PUT fill', () => strata.get(schema, 'rtc0'));
  await count('find, absent everywhere', 'no negative cache by default', () => strata.find(schema, 'nope'));
  await count('exists, L1 hit', '', () => strata.exists(schema, 'rtw3'));
  await count('exists, cold', '', () => c.strata.exists(c.schema, 'rte0'));
  for (const n of [1, 10, 100])
    await count(`getMany(${n}), L1 hits`, '', () => strata.getMany(schema, ids('rtw', n)));
  // Instance b has read none of rtw100..rtw299 yet: each batch is all L2 hits.
  for (const [n, from] of [
    [1, 100],
    [10, 110],
    [100, 200],
  ])
    await count(`getMany(${n}), L2 hits`, '', () => b.strata.getMany(b.schema, ids('rtw', n, from)));
  await count('getMany(100), L3 (cold)', '', () => strata.getMany(schema, ids('rtm', 100)));
  await count(
    'set (write-through)',
    'row + version in one statement; one PUT script (row + search generation)',
    () => strata.set(schema, row('rts', 0)),
  );
  for (const n of [10, 100, 1_000])
    await count(`setMany(${n})`, '', () =>
      strata.setMany(
        schema,
        Array.from({ length: n }, (_, i) => row(`rtsm${n}x`, i)),
      ),
    );
  await count('delete', '', () => strata.delete(schema, 'rts0'));
  for (const n of [10, 100])
    await count(`deleteMany(${n})`, '', () =>
      strata.deleteMany(schema, ids(`rtsm${n === 10 ? 100 : 1000}x`, n)),
    );
  await count('search', 'always L3', () => strata.search(schema, q));
  await count('searchCached, cold', '', () => strata.searchCached(schema, q));
  await count('searchCached, warm', '', () => b.strata.searchCached(b.schema, q));
  await count('count', '', () => strata.count(schema, q));
  await count('tx: 2 sets + 1 delete, commit', '', () =>
    strata.tx().set(schema, row('rtt', 0)).set(schema, row('rtt', 1)).delete(schema, 'rtw99').commit(),
  );
  await count('invalidate', '', () => strata.invalidate(schema, 'rtw5'));
  await count('warmCache(100)', 'one page', () => c.strata.warmCache(c.schema, 100));
  await count('invalidateAll', 'one generation move, no SCAN', () => strata.invalidateAll(schema));
  await count('set (write-behind)', 'one ORDERED_PUT (version + row) + queue; L3 at the flush', () =>
    wb.strata.set(wb.schema, row('rtb', 0)),
  );
  for (let i = 0; i < 100; i++) await wb.strata.set(wb.schema, row('rtb', i));
  await count('flushDirty (100 queued sets)', '', () => wb.strata.flushDirty());
  await count('stats', '', async () => strata.stats());

  const rows = table.map((r) => ({
    section: 'Round trips per operation (Upstash HTTP / Neon HTTP / SQL statements)',
    name: r.op,
    rt: `${r.upstash} / ${r.neon} / ${r.sql}`,
    note: r.note,
  }));
  return { rows, targets: [], raw: table };
}
