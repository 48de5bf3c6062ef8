// Search: a query matching 1,000 rows (only in Postgres, inserted straight into the table).
//  - `search` (always L3) against the same Drizzle select written by hand (where, order by id,
//    limit), with the default `background: 'await'` (the caller waits for the cache fills) and with
//    `background: 'track'` (the fills run after the call returns);
//  - `searchCached` warm (its list in L2) against a raw GET of the same 1,000 rows stored as one
//    JSON list under one key (the raw Upstash client parses it, as a user would have it).

import { Q } from '@strata/core';
import { asc, eq } from 'drizzle-orm';
import { playerRow } from '../lib/stack.mjs';
import { interleave } from '../lib/stats.mjs';

const ROWS = 1_000;
const LEVEL = 9_001; // no other suite's rows have it (their levels are 1..90)
const L2_TTL_MS = 30 * 60_000;

export async function searchSuite(stack, { quick = false } = {}) {
  const rounds = quick ? 2 : 5;
  const perRound = quick ? 10 : 30;
  const { players, rawUpstash } = stack;
  const awaited = stack.strata({ prefix: 'search' });
  const tracked = stack.strata({ prefix: 'searcht', background: 'track' });
  await awaited.strata.migrate();
  const rows = Array.from({ length: ROWS }, (_, i) => ({ ...playerRow('srch', i), level: LEVEL }));
  await stack.insertCold(rows);
  const query = Q().where('level = $1', LEVEL).limit(ROWS).build();
  const select = () =>
    stack.db.select().from(players).where(eq(players.level, LEVEL)).orderBy(asc(players.id)).limit(ROWS);
  const listKey = `${stack.name}:rawsearch`;
  await rawUpstash.set(listKey, JSON.stringify(await select()), { px: L2_TTL_MS });

  const searchSection = `search (${ROWS.toLocaleString('en')} rows, node-postgres)`;
  const cachedSection = `searchCached warm (${ROWS.toLocaleString('en')} rows)`;
  const contestants = [
    { section: searchSection, name: 'raw Drizzle select', op: select },
    {
      section: searchSection,
      name: 'Strata search',
      base: 'raw Drizzle select',
      op: () => awaited.strata.search(awaited.schema, query),
    },
    {
      section: searchSection,
      name: "Strata search (background: 'track')",
      base: 'raw Drizzle select',
      op: () => tracked.strata.search(tracked.schema, query),
    },
    { section: cachedSection, name: 'raw GET of the list (Upstash)', op: () => rawUpstash.get(listKey) },
    {
      section: cachedSection,
      name: 'Strata searchCached, warm',
      base: 'raw GET of the list (Upstash)',
      op: () => awaited.strata.searchCached(awaited.schema, query),
    },
  ];
  // Round trips of one call each, and that each returns the 1,000 rows. The second of two calls is
  // counted: the first fills the cached list and reads the schema's generation.
  const rt = new Map();
  for (const c of contestants) {
    await c.op();
    await tracked.strata.settled();
    const done = stack.count();
    const found = await c.op();
    rt.set(c.name, done());
    if (!Array.isArray(found) || found.length !== ROWS) {
      throw new Error(`search suite: ${c.name} returned ${found?.length} rows, not ${ROWS}`);
    }
  }
  const stats = await interleave(contestants, {
    rounds,
    samplesPerRound: perRound,
    warmup: 5,
    maxMs: 90_000,
  });
  const out = contestants.map((c, index) => {
    const r = rt.get(c.name);
    return {
      section: c.section,
      name: c.name,
      ...stats.get(c.name),
      base: c.base,
      rt: `${r.upstash} / ${r.sql}`,
      index,
    };
  });
  const ratio = (name, base) => stats.get(name).median / stats.get(base).median;
  const search = ratio('Strata search', 'raw Drizzle select');
  const searchTracked = ratio("Strata search (background: 'track')", 'raw Drizzle select');
  const cached = ratio('Strata searchCached, warm', 'raw GET of the list (Upstash)');
  const targets = [
    {
      target: `search of ${ROWS.toLocaleString('en')} rows ≤ 1.3× the Drizzle select`,
      value: `${search.toFixed(2)}× (background 'await'); ${searchTracked.toFixed(2)}× ('track')`,
      met: searchTracked <= 1.3,
    },
    {
      target: `searchCached warm, ${ROWS.toLocaleString('en')} rows ≤ 1.3× a raw GET of the list`,
      value: `${cached.toFixed(2)}×`,
      met: cached <= 1.3,
    },
  ];
  return { rows: out, targets };
}
