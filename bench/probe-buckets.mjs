// Write-behind sets on the Redis Cluster with one bucket and with 16, 16 calls in flight, 3 s each, two
// rounds: sets/s and what each set cost the masters (INFO commandstats summed over the three masters:
// calls and Redis CPU per set, commands inside scripts included). Shows why 16 buckets run slower on
// a small machine: concurrent sets coalesce into one script per bucket touched.
//   node bench/probe-buckets.mjs
import { startRedisCluster } from '@strata/devstack/redis-cluster';
import { uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { playerRow } from './lib/stack.mjs';
import { openContestant } from './load-instances/contestants.mjs';
import { openLoadDatabase } from './load-instances/postgres.mjs';
import { openL2Reader } from './load-instances/readers.mjs';

const name = uniqueName('b16probe');
const cluster = await startRedisCluster();
const db = await openLoadDatabase({ name, keys: 1000, idPrefix: 'p' });
const nodes = cluster.nodes.map(({ host, port }) => ({ host, port }));
const masters = [];
for (const n of nodes) {
  const r = new Redis({ host: n.host, port: n.port });
  const role = await r.role();
  if (role[0] === 'master') masters.push(r);
  else r.disconnect();
}
async function stats() {
  const out = {};
  for (const m of masters) {
    const info = await m.info('commandstats');
    for (const line of info.split('\n')) {
      const mm = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
      if (mm) {
        out[mm[1]] ??= { calls: 0, usec: 0 };
        out[mm[1]].calls += +mm[2];
        out[mm[1]].usec += +mm[3];
      }
    }
  }
  return out;
}
try {
  // migrate once
  const mig = await openL2Reader({
    lib: 'strata',
    databaseUrl: db.databaseUrl,
    redis: { nodes },
    keyPrefix: `{${name}-m}`,
    schemaName: name,
  });
  await mig.strata.migrate();
  await mig.close();
  await db.seed();
  for (const round of [1, 2])
    for (const buckets of [1, 16]) {
      const c = await openContestant({
        lib: 'strata',
        databaseUrl: db.databaseUrl,
        redis: { nodes, ...(buckets > 1 && { buckets }) },
        keyPrefix: buckets > 1 ? `${name}-b${buckets}-${round}` : `{${name}-b${buckets}-${round}}`,
        schemaName: name,
        writeMode: 'write-behind',
      });
      for (let i = 0; i < 200; i++) await c.set(playerRow('p', i % 1000));
      await c.flush();
      const before = await stats();
      let n = 0;
      const end = Date.now() + 3000;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (Date.now() < end) {
            await c.set({ ...playerRow('p', (n * 7919) % 1000), level: n });
            n++;
          }
        }),
      );
      const after = await stats();
      await c.flush();
      const per = Object.entries(after)
        .map(([k, v]) => [k, (v.calls - (before[k]?.calls ?? 0)) / n, (v.usec - (before[k]?.usec ?? 0)) / n])
        .filter(([, c]) => c > 0.01)
        .sort((a, b) => b[2] - a[2]);
      console.log(
        `B=${buckets} round ${round}: ${Math.round(n / 3)} sets/s; per set:`,
        per.map(([k, c, u]) => `${k} ${c.toFixed(2)}x ${u.toFixed(1)}us`).join(', '),
      );
      await c.close();
      await db.lapseClaims(); // the next app (key prefix) writes the table write-behind too
    }
} finally {
  for (const m of masters) m.disconnect();
  await db.drop?.();
  await cluster.stop();
}
