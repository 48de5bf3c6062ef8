// The cold-start cost of the keyPrefix claim (docs/semantics.md, "Identities"): the first `get` of a
// fresh instance (its own pg pool and Redis connection, nothing learnt yet) of a row L2 holds, with
// an L3 that names its database (the claim is checked before L2 answers) and with one that cannot
// (`identity` hidden: no check, today's path for such L3s), interleaved; then a second `get` (L1 off:
// an L2 hit) as the steady state. Real Redis and Postgres; medians and p90 in ms.
// `node bench/cold-start-identity.mjs [--runs 40]` (uses the packages' dist: build first).
import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { serviceUrls, uniqueName } from '@strata/devstack';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { arg } from './lib/args.mjs';

const runs = Number(arg('--runs', 40));
const { redisUrl, databaseUrl } = serviceUrls();
const name = uniqueName('coldstart');
const items = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const schema = defineSchema({ name: 'items', table: items, l1: false });
const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
admin.on('error', () => {});
const raw = new Redis(redisUrl);

const open = (identity) => {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  pool.on('error', () => {});
  const real = createDrizzleL3(drizzle({ client: pool }), { migrationsSchema: name });
  const l3 = identity ? real : withoutIdentity(real);
  const strata = new Strata({ l2: createIoredisL2(redisUrl), l3, keyPrefix: name, schemas: [schema] });
  const end = async () => {
    await strata.close();
    await pool.end();
  };
  return { strata, end };
};

/** The L3 as one that cannot say which database it is (no `identity`). */
function withoutIdentity(l3) {
  return new Proxy(l3, {
    has: (t, p) => p !== 'identity' && p in t,
    get: (t, p) => (p === 'identity' ? undefined : typeof t[p] === 'function' ? t[p].bind(t) : t[p]),
  });
}

const percentile = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const ms = (x) => x.toFixed(2);

try {
  await admin.query(`create schema "${name}"`);
  const seed = open(true);
  await seed.strata.migrate();
  await seed.strata.set(schema, { id: 'k', n: 1 });
  await seed.strata.find(schema, 'k'); // in L2 now
  await seed.end();
  const times = { identity: { first: [], second: [] }, none: { first: [], second: [] } };
  for (let r = 0; r < runs; r++) {
    for (const side of r % 2 === 0 ? ['identity', 'none'] : ['none', 'identity']) {
      const app = open(side === 'identity');
      const t0 = performance.now();
      const row = await app.strata.find(schema, 'k');
      const t1 = performance.now();
      await app.strata.find(schema, 'k');
      const t2 = performance.now();
      if (row?.n !== 1) throw new Error(`first get answered ${JSON.stringify(row)}`);
      const { hits } = app.strata.stats();
      if (r === 0) console.log(side, 'first two gets: hits', JSON.stringify(hits));
      times[side].first.push(t1 - t0);
      times[side].second.push(t2 - t1);
      await app.end();
    }
  }
  for (const [side, t] of Object.entries(times))
    console.log(
      `${side.padEnd(8)} first get median ${ms(percentile(t.first, 0.5))} p90 ${ms(percentile(t.first, 0.9))}` +
        ` | second get median ${ms(percentile(t.second, 0.5))} p90 ${ms(percentile(t.second, 0.9))} (runs ${runs})`,
    );
} finally {
  await admin.query(`drop schema if exists "${name}" cascade`);
  const keys = await raw.keys(`${name}*`);
  if (keys.length > 0) await raw.del(...keys);
  raw.disconnect();
  await admin.end();
}
