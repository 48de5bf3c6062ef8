// Full miss to L3: every op reads an id that exists only in Postgres (inserted straight into the
// table before timing, one fresh id per op), so it misses L1 and L2, selects, and fills L2.
// Baselines, hand-written with the raw clients on the same endpoints and the same JSON:
//  - "cache-aside": raw L2 get (miss) + raw Drizzle select + raw L2 set (what Strata does);
//  - "select + set": the issue's literal baseline, without the L2 lookup that finds the miss.
// For two L3 drivers: node-postgres (TCP) and neon-http (the devstack's Neon HTTP endpoint).
import { eq } from 'drizzle-orm';
import { playerRow } from '../lib/stack.mjs';
import { interleave } from '../lib/stats.mjs';

const L2_TTL_MS = 30 * 60_000;

export async function l3Suite(stack, { quick = false } = {}) {
  const rounds = quick ? 2 : 5;
  const perRound = quick ? 20 : 60;
  const warmup = 20;
  const perContestant = rounds * perRound + warmup + 10;
  const drivers = ['node-postgres', 'neon-http'];
  const kinds = ['Strata get', 'raw cache-aside', 'raw select + set'];
  const names = [];
  const ids = new Map();
  const cold = [];
  for (const driver of drivers) {
    for (const kind of kinds) {
      const name = `${kind} (${driver})`;
      names.push(name);
      const prefix = `l3${names.length}x`;
      const rows = Array.from({ length: perContestant }, (_, i) => playerRow(prefix, i));
      ids.set(
        name,
        rows.map((r) => r.id),
      );
      cold.push(...rows);
    }
  }
  const instances = new Map();
  for (const driver of drivers) {
    const made = stack.strata({ prefix: `l3${driver === 'neon-http' ? 'n' : 'p'}`, driver });
    instances.set(driver, made);
  }
  await instances.get('node-postgres').strata.migrate();
  await stack.insertCold(cold);
  const { players, rawUpstash } = stack;
  const rawKey = (id) => `${stack.name}:raw3:${id}`;

  const select = async (db, id) =>
    (await db.select().from(players).where(eq(players.id, id)).limit(1))[0] ?? null;
  const cacheAside = async (db, id) => {
    const cached = await rawUpstash.get(rawKey(id));
    if (cached) return cached;
    const row = await select(db, id);
    if (row) await rawUpstash.set(rawKey(id), JSON.stringify(row), { px: L2_TTL_MS });
    return row;
  };
  const selectSet = async (db, id) => {
    const row = await select(db, id);
    if (row) await rawUpstash.set(rawKey(id), JSON.stringify(row), { px: L2_TTL_MS });
    return row;
  };

  const contestants = [];
  const rt = new Map();
  for (const driver of drivers) {
    const db = driver === 'neon-http' ? stack.neonDb : stack.db;
    const { strata, schema } = instances.get(driver);
    const ops = [(id) => strata.get(schema, id), (id) => cacheAside(db, id), (id) => selectSet(db, id)];
    kinds.forEach((kind, k) => {
      const name = `${kind} (${driver})`;
      const list = ids.get(name);
      contestants.push({ name, op: (i) => ops[k](list[i]) });
    });
  }
  // Round trips of one op each (and that each really missed both caches), before timing. The
  // second of two calls is counted: a new instance's first call also reads the schema's generation.
  for (const c of contestants) {
    const list = ids.get(c.name);
    await c.op(list.length - 2);
    const done = stack.count();
    const row = await c.op(list.length - 1);
    rt.set(c.name, done());
    if (!row) throw new Error(`L3 suite: ${c.name} found nothing`);
  }
  const stats = await interleave(contestants, { rounds, samplesPerRound: perRound, warmup, maxMs: 60_000 });

  const rowsOut = contestants.map((c, i) => {
    const r = rt.get(c.name);
    const driver = c.name.includes('neon-http') ? 'neon-http' : 'node-postgres';
    return {
      section: 'Full miss to L3',
      name: c.name,
      ...stats.get(c.name),
      base: `raw cache-aside (${driver})`,
      rt: `${r.upstash} / ${r.sql}${r.neon ? ` (${r.neon} Neon HTTP)` : ''}`,
      index: i,
    };
  });
  const targets = drivers.map((driver) => {
    const s = stats.get(`Strata get (${driver})`).median;
    const aside = s / stats.get(`raw cache-aside (${driver})`).median;
    const literal = s / stats.get(`raw select + set (${driver})`).median;
    return {
      target: `Full miss (${driver}): Strata ≤ 1.15× raw`,
      value: `${aside.toFixed(2)}× cache-aside; ${literal.toFixed(2)}× select + set alone`,
      met: aside <= 1.15,
    };
  });
  return { rows: rowsOut, targets };
}
