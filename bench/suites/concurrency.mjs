// Concurrent throughput: ops/s with 1, 16 and 256 calls in flight (a closed loop, lib/throughput.mjs)
// for Strata `get` answered by each tier and a write-through `set`, against the raw clients doing the
// same work: @upstash/redis and ioredis `get` (+ JSON.parse), a Drizzle select, a Drizzle upsert (and
// the upsert + Upstash SET a hand-written write-through makes). Every call in flight reads or writes
// its own id. "vs baseline" is time per completed call against the raw client's at the same level
// (its ops/s over Strata's). L3 goes through the bench's one node-postgres pool (10 connections),
// on both sides, so beyond 10 in flight Postgres calls queue in the pool.
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { eq, sql } from 'drizzle-orm';
import { playerRow } from '../lib/stack.mjs';
import { throughput } from '../lib/throughput.mjs';

const N = 2_000;
const LEVELS = [1, 16, 256];

export async function concurrencySuite(stack, { quick = false } = {}) {
  const { players, db, rawUpstash, ioredis } = stack;
  const rows = Array.from({ length: N }, (_, i) => playerRow('cc', i));
  const ids = rows.map((r) => r.id);
  const id = (i) => ids[i % N];
  const rawKey = (key) => `${stack.name}:rawcc:${key}`;

  const l1 = stack.strata({ prefix: 'ccl1' });
  await l1.strata.migrate();
  await l1.strata.setMany(l1.schema, rows); // write-through: rows in Postgres, L2 and this L1
  const http = stack.strata({ prefix: 'ccl1', schema: { l1: false } });
  await http.strata.setMany(http.schema, rows); // in L2 as this schema writes them
  const tcpL2 = createIoredisL2(stack.urls.redisUrl);
  const tcp = stack.strata({ prefix: 'ccl1', schema: { l1: false }, l2: tcpL2 });
  const l3 = stack.strata({ prefix: 'ccl3', schema: { l1: false, l2: false } });
  const writer = stack.strata({ prefix: 'ccw' });
  const pipe = ioredis.pipeline();
  for (const r of rows) pipe.set(rawKey(r.id), JSON.stringify(r), 'PX', 600_000);
  await pipe.exec();

  const select = async (key) => (await db.select().from(players).where(eq(players.id, key)).limit(1))[0];
  const upsertSet = Object.fromEntries(
    ['username', 'level', 'email', 'active', 'createdAt', 'updatedAt'].map((k) => [
      k,
      sql.raw(`excluded.${players[k].name}`),
    ]),
  );
  // Each writer its own ids (no two contestants contend for a row lock); level varies so rows change.
  const written = (prefix, i) => ({ ...playerRow(prefix, i % N), level: (i % 90) + 1 });
  const upsert = (row) =>
    db.insert(players).values(row).onConflictDoUpdate({ target: players.id, set: upsertSet });

  // What each get is, checked before timing: L1 hits make no round trip, L2 hits one request, L3 one select.
  const expect = async (what, fn, want) => {
    const done = stack.count();
    const row = await fn();
    const rt = done();
    if (row?.id !== ids[7] || rt.upstash !== want.upstash || rt.sql !== want.sql)
      throw new Error(`concurrency suite: ${what} took ${JSON.stringify(rt)}, returned ${row?.id}`);
  };
  await l1.strata.get(l1.schema, ids[7]);
  await expect('an L1 hit', () => l1.strata.get(l1.schema, ids[7]), { upstash: 0, sql: 0 });
  await http.strata.get(http.schema, ids[7]); // the first call may read the schema generation
  await expect('an L2 hit', () => http.strata.get(http.schema, ids[7]), { upstash: 1, sql: 0 });
  await l3.strata.get(l3.schema, ids[7]);
  await expect('an L3 read', () => l3.strata.get(l3.schema, ids[7]), { upstash: 0, sql: 1 });

  const sections = [
    ['get, L1 hit', [['Strata get (L1 hit)', (i) => l1.strata.get(l1.schema, id(i))]]],
    [
      'get, L2 hit over HTTP (Upstash)',
      [
        ['raw @upstash/redis get', (i) => rawUpstash.get(rawKey(id(i)))],
        ['Strata get, l1: false', (i) => http.strata.get(http.schema, id(i))],
      ],
    ],
    [
      'get, L2 hit over TCP (ioredis)',
      [
        ['raw ioredis get + JSON.parse', async (i) => JSON.parse(await ioredis.get(rawKey(id(i))))],
        ['Strata get, l1: false, ioredis L2', (i) => tcp.strata.get(tcp.schema, id(i))],
      ],
    ],
    [
      'get from L3 (node-postgres)',
      [
        ['raw Drizzle select', (i) => select(id(i))],
        ['Strata get, l1: false, l2: false', (i) => l3.strata.get(l3.schema, id(i))],
      ],
    ],
    [
      'set, write-through',
      [
        ['raw Drizzle upsert', (i) => upsert(written('ccu', i))],
        [
          'raw Drizzle upsert + @upstash/redis SET',
          async (i) => {
            const row = written('ccs', i);
            await upsert(row);
            await rawUpstash.set(rawKey(row.id), JSON.stringify(row), { px: 600_000 });
          },
        ],
        [
          'Strata set (write-through, Upstash L2)',
          (i) => writer.strata.set(writer.schema, written('ccw', i)),
        ],
      ],
    ],
  ];
  const contestants = sections.flatMap(([, list]) => list.map(([name, op]) => ({ name, op })));
  const stats = await throughput(contestants, {
    levels: LEVELS,
    iterations: quick ? 1 : 3,
    burstMs: quick ? 150 : 300,
    warmupMs: quick ? 50 : 150,
  });
  await tcpL2.close();

  const out = [];
  for (const level of LEVELS) {
    for (const [title, list] of sections) {
      const base = list.length > 1 ? list[0][0] : undefined;
      for (const [name] of list) {
        const s = stats.get(name).get(level);
        out.push({
          section: `Concurrent ${title}: ${level} in flight`,
          name,
          opsPerSec: s.opsPerSec,
          median: s.median,
          p99: Number.NaN,
          n: s.n,
          base,
          headline: level === 256 && name.startsWith('Strata'),
          note: name === base ? 'vs baseline: time per completed call (its ops/s over the row’s)' : '',
        });
      }
    }
  }
  return { rows: out, targets: [] };
}
