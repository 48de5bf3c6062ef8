// npm run bench:load: N Node processes (N = 1, 2, 4), each one cache instance (L1 + L2 + L3
// write-through), against one Redis and against a Redis Cluster (3 masters + 3 replicas on
// loopback, started here), Strata and bentocache, a Zipf 90 % get / 10 % set workload. Reports ops/s,
// p50/p99 per operation, L3 queries/s and whether every tier agrees with Postgres afterwards.
// Not part of `npm run bench` (about 2–3 minutes of its own). See bench/README.md.
//
//   node bench/load-instances.mjs                        everything; writes bench/results/load-*.json
//   node bench/load-instances.mjs --n 1,2 --setups single --libs strata --duration 2 --no-write
//   options: --n --setups single,cluster,cluster-b16 --libs strata,bentocache,strata-wb --duration <s>
//   cluster-b16: the Cluster with `buckets: 16` (the app over 16 slots, key layout C; Strata only)
//            --warmup <s> --in-flight <calls per instance> --keys <rows> --no-write
import './lib/peer-resolve.mjs';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { serviceUrls, uniqueName } from '@strata/devstack';
import { startRedisCluster } from '@strata/devstack/redis-cluster';
import { Redis } from 'ioredis';
import { machineInfo, shortMachine } from './lib/machine.mjs';
import { seededRandom } from './lib/stats.mjs';
import { runCell } from './load-instances/cell.mjs';
import { killLive } from './load-instances/children.mjs';
import { openLoadDatabase } from './load-instances/postgres.mjs';
import { openL2Reader } from './load-instances/readers.mjs';
import { renderLoad } from './load-instances/render.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const list = (name, fallback) => option(name, fallback).split(',').filter(Boolean);
const ns = list('--n', '1,2,4').map(Number);
const setups = list('--setups', 'single,cluster,cluster-b16');
const libs = list('--libs', 'strata,bentocache');
const workload = {
  keys: Number(option('--keys', '10000')),
  s: 1.0,
  writeShare: 0.1,
  inFlight: Number(option('--in-flight', '16')),
  warmupMs: Number(option('--warmup', '1.5')) * 1000,
  durationMs: Number(option('--duration', '5')) * 1000,
  idPrefix: 'lp',
};
const write = !args.includes('--no-write');
/** The whole run stops by itself after this long, whatever hangs. */
const WATCHDOG_MS = 10 * 60_000;
const log = (message) => console.error(`bench:load: ${message}`);

const started = Date.now();
const name = uniqueName('load');
const machine = machineInfo();
log(`${machine.cpu}, ${machine.cores} cores; N = ${ns.join(', ')}; ${setups.join(', ')}; ${libs.join(', ')}`);

let cluster;
let database;
const redis = new Redis(serviceUrls().redisUrl, { protocol: 2, lazyConnect: true });
redis.on('error', () => {});
const prefixes = [];

let cleaning;
/** Stops what this run started (children, cluster) and removes what it made (database, keys). */
function cleanup() {
  cleaning ??= (async () => {
    killLive();
    await cluster?.stop().catch((err) => log(`cluster stop failed: ${err}`));
    await database?.drop().catch((err) => log(`dropping the database failed: ${err}`));
    for (const prefix of prefixes) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    }
    redis.disconnect();
  })();
  return cleaning;
}
const abort = (why) => {
  log(`${why}: stopping`);
  cleanup().finally(() => process.exit(1));
};
const watchdog = setTimeout(() => abort(`still running after ${WATCHDOG_MS / 60_000} min`), WATCHDOG_MS);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => abort(signal));

const cells = [];
const failures = [];
try {
  await redis.connect();
  [cluster, database] = await Promise.all([
    setups.some((s) => s.startsWith('cluster')) ? startRedisCluster() : undefined,
    openLoadDatabase({ name, keys: workload.keys, idPrefix: workload.idPrefix }),
  ]);
  if (cluster) log(`cluster up in ${cluster.startedInMs} ms`);
  const redisOf = {
    single: { url: serviceUrls().redisUrl },
    cluster: cluster && { nodes: cluster.nodes.map(({ host, port }) => ({ host, port })) },
  };
  // The same Cluster, the app spread over 16 buckets (Strata adds a hash tag per bucket).
  redisOf['cluster-b16'] = redisOf.cluster && { ...redisOf.cluster, buckets: 16 };
  // Strata's migrate makes the table (and its own tables) in the run's schema; then the rows.
  const migrator = await openL2Reader({
    lib: 'strata',
    databaseUrl: database.databaseUrl,
    redis: redisOf.single,
    keyPrefix: `${name}-migrate`,
    schemaName: database.schemaName,
  });
  prefixes.push(`${name}-`);
  await migrator.strata.migrate();
  await migrator.close();
  await database.seed();
  // The sample compared with Postgres: the 100 hottest ranks (the most contended rows) and 100 others.
  const random = seededRandom(0x5a);
  const ranks = new Set(Array.from({ length: Math.min(100, workload.keys) }, (_, r) => r));
  while (ranks.size < Math.min(200, workload.keys)) ranks.add(Math.floor(random() * workload.keys));
  const sample = [...ranks].map((r) => `${workload.idPrefix}${r}`);

  // N outermost: the contestants at one N run back to back, under about the same load.
  for (const n of ns) {
    for (const setup of setups) {
      for (const lib of libs) {
        // Buckets are Strata's key layout: bentocache's rows are the same as on 'cluster'.
        if (setup === 'cluster-b16' && lib === 'bentocache') continue;
        const cellName = `${setup}/${lib}/N=${n}`;
        const tag = `${name}-${setup}-${lib}-${n}`;
        const keyPrefix = setup === 'cluster' ? `{${tag}}` : tag;
        const t0 = Date.now();
        try {
          const cell = await runCell({
            setup,
            lib: lib === 'strata-wb' ? 'strata' : lib,
            n,
            redis: redisOf[setup],
            keyPrefix,
            database,
            workload: { ...workload, writeMode: lib === 'strata-wb' ? 'write-behind' : 'write-through' },
            sample,
          });
          cells.push({ ...cell, lib });
          log(
            `${cellName}: ${Math.round(cell.opsPerSec)} ops/s, L3 ${Math.round(cell.l3PerSec.total)}/s, agrees ${cell.check.agrees}, ${((Date.now() - t0) / 1000).toFixed(1)} s, load ${cell.load.after[0]}`,
          );
        } catch (error) {
          const message = String(error instanceof Error ? error.message : error).slice(0, 800);
          failures.push({ cell: cellName, message });
          log(`${cellName} FAILED: ${message}`);
        }
        // Each cell is an app of its own (a fresh key prefix) on the one table: the next may write
        // it in the other mode only once this one's claim is over (its instances are stopped).
        await database.lapseClaims();
      }
    }
  }
} finally {
  await cleanup();
  clearTimeout(watchdog);
}

const run = {
  date: new Date().toISOString(),
  command: `npm run bench:load${args.length ? ` -- ${args.join(' ')}` : ''}`,
  elapsedSeconds: (Date.now() - started) / 1000,
  machine,
  loadAverageAtEnd: os.loadavg(),
  workload,
  l3Counting:
    "Per instance, over the timed window: Strata's own counters (stats().l3Reads, coalesced misses once; one write per write-through set), bentocache's factory calls and upserts counted around them.",
  cells,
  failures,
};
console.log(renderLoad(run));
log(`done in ${run.elapsedSeconds.toFixed(0)} s`);
if (write) {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const stem = `load-${run.date.slice(0, 10)}-${shortMachine(machine)}`;
  let file = stem;
  for (let k = 2; existsSync(`${dir}${file}.json`); k++) file = `${stem}-${k}`;
  const json = `${JSON.stringify(run, null, 2)}\n`;
  writeFileSync(`${dir}${file}.json`, json);
  writeFileSync(`${dir}load-latest.json`, json);
  log(`wrote ${dir}${file}.json and load-latest.json`);
}
process.exitCode = failures.length ? 1 : 0;
