// Where `search` of 1,000 rows spends its CPU: `node --cpu-prof bench/profile-search.mjs` (after a
// build), `--track` for `background: 'track'`, `--cached` for a warm `searchCached`; then
// `node bench/profile-l1.mjs --summary <file>`. Prints the mean time per call next to the same
// Drizzle select's (or the raw Upstash GET of the list's), measured alternately in the same process.
import { Q } from '@strata/core';
import { asc, eq } from 'drizzle-orm';
import { alternate } from './lib/alternate.mjs';
import { openStack, playerRow } from './lib/stack.mjs';

const track = process.argv.includes('--track');
const cached = process.argv.includes('--cached');
const ROWS = 1_000;
const LEVEL = 9_001;
const stack = await openStack();
const { strata, schema } = stack.strata({ prefix: 'profs', ...(track && { background: 'track' }) });
await strata.migrate();
await stack.insertCold(Array.from({ length: ROWS }, (_, i) => ({ ...playerRow('psr', i), level: LEVEL })));
const query = Q().where('level = $1', LEVEL).limit(ROWS).build();
const { players, db, rawUpstash } = stack;
const select = () =>
  db.select().from(players).where(eq(players.level, LEVEL)).orderBy(asc(players.id)).limit(ROWS);
const listKey = `${stack.name}:rawsearch`;
await rawUpstash.set(listKey, JSON.stringify(await select()), { px: 600_000 });

const strataOp = cached ? () => strata.searchCached(schema, query) : () => strata.search(schema, query);
const rawOp = cached ? () => rawUpstash.get(listKey) : select;
const N = Number(process.env.PROFILE_N ?? 500);
const m = await alternate(strataOp, rawOp, N, 30);
await strata.settled();
const ms = (ns) => (ns / 1e6).toFixed(2);
console.log(
  `${cached ? 'searchCached' : 'search'}${track ? ' (track)' : ''} of ${ROWS}: Strata ${ms(m.strata)} ms, raw ${ms(m.raw)} ms, ratio ${m.ratio.toFixed(2)}`,
);
await stack.cleanup();
