#!/usr/bin/env node
// npm start: the demo Worker running locally against the devstack, seeded, until Ctrl-C.
//
//   1. startDevstack({ embedded: 'auto' }): the Upstash REST and Neon HTTP endpoints over the machine's
//      Redis and Postgres (`test` database), or over a spawned redis-server / PGlite when none answers.
//   2. db:push of the demo schema into that Postgres (drizzle-kit needs its real wire endpoint). The
//      demo's tables, and its Strata's `_strata_*` tables, live in their own Postgres schema
//      `strata_demo`, the only one drizzle-kit looks at: nothing else in that database is touched.
//   3. `strata capture install` with apps/demo-worker/strata.config.ts: the triggers that log writes
//      made outside the demo (psql), whose relay in the Worker invalidates the caches.
//   4. `npx wrangler dev` of the root wrangler.toml on a free port, the devstack's URLs as --var bindings,
//      in a process group of its own so that stopping it stops its wrangler and workerd children too.
//   5. Seeds a few players and scores through the running demo's HTTP API; prints what to open.
// SIGINT/SIGTERM to this script (its pid is printed first): stops the wrangler process group (by its
// pid), then the devstack, and exits 0.
//
// Needs the workspace packages built (`npm start` builds them first): wrangler bundles their dist.
// Env: STRATA_REDIS_URL / STRATA_DATABASE_URL, read by the devstack; STRATA_KEY_PREFIX, the Redis
// namespace of the demo's keys (default: one of this run, whose keys are removed at stop, as the
// run's encryption key is gone then). The demo gets a free port.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const devstackDist = join(root, 'packages/devstack/dist/index.js');
const HEALTH_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

const SEED_PLAYERS = [
  { id: 'seed-ada', username: 'ada', email: 'ada@example.com', level: 7 },
  { id: 'seed-grace', username: 'grace', email: 'grace@example.com', level: 5 },
  { id: 'seed-linus', username: 'linus', level: 3 },
];
const SEED_SCORES = [
  { id: 'seed-score-1', playerId: 'seed-ada', points: 4200 },
  { id: 'seed-score-2', playerId: 'seed-grace', points: 3900 },
  { id: 'seed-score-3', playerId: 'seed-linus', points: 2600 },
  { id: 'seed-score-4', playerId: 'seed-ada', points: 1500 },
];

const log = (message) => console.log(`start: ${message}`);
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

if (!existsSync(devstackDist)) {
  console.error(
    `start: ${devstackDist} is missing: build first (npm run build, or use \`npm start\`, which builds).`,
  );
  process.exit(1);
}
const { freePort, serviceAddress, spawnGroup, startDevstack, stopGroup } = await import(
  pathToFileURL(devstackDist).href
);

let devstack;
let wrangler;
let persistDir;
/** The Redis key prefix this run made up (none when STRATA_KEY_PREFIX named one): its keys go at stop. */
let ownKeyPrefix;
let stopping = false;
/** The environment of `strata capture` (set once this run installed it; remove at stop uses it too). */
let captureEnv;

/**
 * Deletes the keys under this run's own prefix, through the devstack's Upstash endpoint: the encryption
 * key dies with the run, so its cached rows could never be read again.
 */
async function dropOwnKeys() {
  if (!ownKeyPrefix || !devstack?.upstash) return;
  const call = async (command) => {
    const res = await fetch(devstack.upstash.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${devstack.upstash.token}` },
      body: JSON.stringify(command),
    });
    if (!res.ok) throw new Error(`${command[0]}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()).result;
  };
  let cursor = '0';
  let dropped = 0;
  do {
    const [next, keys] = await call(['SCAN', cursor, 'MATCH', `${ownKeyPrefix}:*`, 'COUNT', '1000']);
    if (keys.length > 0) dropped += await call(['DEL', ...keys]);
    cursor = String(next);
  } while (cursor !== '0');
  log(`removed ${dropped} Redis keys of this run (${ownKeyPrefix}:*)`);
}

/** Stops everything this script started, in reverse order; safe to call more than once. */
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  let exitCode = code;
  try {
    if (wrangler) {
      await stopGroup(wrangler, {
        graceMs: STOP_TIMEOUT_MS,
        onKill: (pgid) => log(`process group ${pgid} still alive after SIGTERM: SIGKILL`),
      });
      log(`wrangler stopped (process group ${wrangler.pid} is gone)`);
    }
  } catch (err) {
    console.error('start: stopping wrangler failed:', err);
    exitCode = 1;
  }
  try {
    if (ownKeyPrefix && captureEnv) await runCapture('remove');
  } catch (err) {
    console.error(`start: removing this run's change capture (app ${ownKeyPrefix}) failed:`, err);
    exitCode = 1;
  }
  try {
    await dropOwnKeys();
  } catch (err) {
    console.error(`start: removing this run's Redis keys (${ownKeyPrefix}:*) failed:`, err);
    exitCode = 1;
  }
  try {
    if (devstack) await devstack.stop();
    log('devstack stopped');
  } catch (err) {
    console.error('start: stopping the devstack failed:', err);
    exitCode = 1;
  }
  if (persistDir) rmSync(persistDir, { recursive: true, force: true });
  process.exit(exitCode);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    // Ctrl-C reaches this process twice (the terminal signals the whole group, and npm passes its own
    // on): say it once.
    if (!stopping) log(`${signal}: stopping`);
    void shutdown(0);
  });
}

/** The exit code (or signal, or spawn error) of `child`. */
function exited(child) {
  return new Promise((done) => {
    child.on('error', (err) => done(err.message));
    child.on('exit', (code, signal) => done(code ?? signal));
  });
}

/**
 * `strata capture install|remove` with the demo's config (apps/demo-worker/strata.config.ts): triggers
 * that log writes made outside the demo (psql, another service), which the Worker's relay turns into
 * invalidations. Install registers the app under the run's STRATA_KEY_PREFIX (the Worker's); remove,
 * at stop, unregisters a prefix this run made up, so runs do not pile up registered apps (with two or
 * more, the trigger logs every Strata write). Idempotent; all of it lives in the demo's Postgres schema.
 */
async function runCapture(command) {
  log(
    `${command === 'install' ? 'installing' : 'removing'} change capture (strata capture ${command} --config apps/demo-worker/strata.config.ts)`,
  );
  const cli = spawn(
    process.execPath,
    [join(root, 'packages/adapter-node/bin/strata.mjs'), 'capture', command],
    {
      cwd: join(root, 'apps/demo-worker'),
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...captureEnv },
    },
  );
  // The CLI lists every statement (two dozen for the demo's two tables): a newcomer needs only the
  // summary, and the whole list when it failed.
  let printed = '';
  cli.stdout.setEncoding('utf8').on('data', (chunk) => {
    printed += chunk;
  });
  const code = await exited(cli);
  if (code !== 0) {
    process.stdout.write(printed);
    throw new Error(`strata capture ${command} failed (${code})`);
  }
  const summary = printed.trimEnd().split('\n').at(-1) ?? '';
  log(summary);
}

async function waitForHealth(base, child) {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`wrangler dev exited (${child.exitCode ?? child.signalCode}) before /health answered`);
    }
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(300);
  }
  throw new Error(`GET ${base}/health did not answer within ${HEALTH_TIMEOUT_MS / 1000} s`);
}

async function request(base, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/**
 * Removes earlier runs' seed rows straight from Postgres (their emails were encrypted with another run's
 * key, so the API could not read them), then creates the seed through the demo's API.
 */
async function seed(base, postgresUrl) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query('delete from strata_demo.scores where id = any($1) or player_id = any($2)', [
      SEED_SCORES.map((s) => s.id),
      SEED_PLAYERS.map((p) => p.id),
    ]);
    await client.query('delete from strata_demo.players where id = any($1) or username = any($2)', [
      SEED_PLAYERS.map((p) => p.id),
      SEED_PLAYERS.map((p) => p.username),
    ]);
  } finally {
    await client.end();
  }
  for (const player of SEED_PLAYERS) {
    const res = await request(base, 'POST', '/players', player);
    if (res.status !== 201) throw new Error(`seeding player ${player.id}: ${res.status} ${res.text}`);
  }
  for (const score of SEED_SCORES) {
    const res = await request(base, 'POST', '/scores', score);
    if (res.status !== 202) throw new Error(`seeding score ${score.id}: ${res.status} ${res.text}`);
  }
  log(
    `seeded ${SEED_PLAYERS.length} players and ${SEED_SCORES.length} scores ` +
      '(scores are write-behind: the queue flushes them to Postgres within a few seconds)',
  );
}

try {
  // The pid that stops it all (wrangler's group, the capture and keys of this run, the devstack).
  log(`pid ${process.pid}: Ctrl-C or \`kill ${process.pid}\` stops the demo`);
  devstack = await startDevstack({ embedded: 'auto', log: (message) => log(`devstack: ${message}`) });
  if (!devstack.upstash) throw new Error(`no Redis for the Upstash endpoint: ${devstack.redis.reason}`);
  log(
    `devstack up: Postgres ${devstack.postgres.source} (${serviceAddress(devstack.postgres.url)}), ` +
      `Redis ${devstack.redis.source}; Upstash ${devstack.upstash.url}, Neon HTTP ${devstack.neon.httpUrl}`,
  );

  log('pushing the demo schema (npm run db:push -w @strata/demo-worker)');
  // Asynchronously: the PGlite fallback runs in this process, so a blocked event loop would deadlock it.
  const push = spawn('npm', ['run', 'db:push', '-w', '@strata/demo-worker'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DATABASE_URL: devstack.postgres.url },
  });
  const pushed = await exited(push);
  if (pushed !== 0) throw new Error(`db:push failed (${pushed})`);

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const encryptionKey = randomBytes(32).toString('hex');
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: read when npm start runs, by no turbo task.
  const keyPrefix = process.env.STRATA_KEY_PREFIX || `demo_dev_${Date.now().toString(36)}`;
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: read when npm start runs, by no turbo task.
  if (!process.env.STRATA_KEY_PREFIX) ownKeyPrefix = keyPrefix;
  log(`Redis keys of this run: ${keyPrefix}:*${ownKeyPrefix ? ' (removed at stop)' : ''}`);
  log(
    'STRATA_ENCRYPTION_KEY is a random key of this run only (ephemeral): emails encrypted now cannot ' +
      'be read by a later run',
  );
  const vars = {
    UPSTASH_REDIS_REST_URL: devstack.upstash.url,
    UPSTASH_REDIS_REST_TOKEN: devstack.upstash.token,
    DATABASE_URL: devstack.neon.connectionString,
    NEON_FETCH_ENDPOINT: devstack.neon.httpUrl,
    STRATA_ENCRYPTION_KEY: encryptionKey,
    STRATA_KEY_PREFIX: keyPrefix,
  };
  captureEnv = { ...vars, DATABASE_URL: devstack.postgres.url };
  await runCapture('install');

  // Local queue and cache state of this run only, removed at the end.
  persistDir = mkdtempSync(join(tmpdir(), 'strata-demo-wrangler-'));
  const args = ['wrangler', 'dev', '--config', 'wrangler.toml', '--port', String(port), '--ip', '127.0.0.1'];
  args.push('--persist-to', persistDir, '--show-interactive-dev-session=false');
  for (const [key, value] of Object.entries(vars)) args.push('--var', `${key}:${value}`);

  // Its own process group: the group's id is wrangler's pid, so -pid reaches wrangler and workerd.
  // WRANGLER_SEND_METRICS: no telemetry. CLOUDFLARE_CF_FETCH_ENABLED=false (miniflare, documented with
  // wrangler's system environment variables): no fetch of workers.cloudflare.com/cf.json for `Request.cf`,
  // which the demo never reads; offline, that fetch printed a getaddrinfo ENOTFOUND stack at every start.
  // A CLOUDFLARE_CF_FETCH_ENABLED of the caller's own wins.
  wrangler = spawnGroup('npx', args, {
    cwd: root,
    env: { CLOUDFLARE_CF_FETCH_ENABLED: 'false', ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' },
  });
  // Not a pid to kill: wrangler alone stopped leaves this run's keys, capture and devstack behind.
  log(`npx wrangler dev: process group ${wrangler.pid} (stopped with this script)`);
  for (const stream of [wrangler.stdout, wrangler.stderr]) {
    let rest = '';
    stream.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) if (line.trim()) console.log(`[wrangler] ${line}`);
    });
  }
  wrangler.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`start: wrangler dev exited unexpectedly (${code ?? signal})`);
      void shutdown(1);
    }
  });

  await waitForHealth(base, wrangler);
  log(`demo up: ${base}/health answers`);
  await seed(base, devstack.postgres.url);

  console.log(
    [
      '',
      'Open:',
      `  ${base}/players/${SEED_PLAYERS[0].id}`,
      `  ${base}/leaderboard`,
      `  ${base}/stats`,
      `  ${base}/dashboard   (hits per tier, latency, queue depth, change relay lag; live)`,
      '',
      'A write made outside the demo reaches its caches (change capture, docs/change-capture.md):',
      `  psql '${devstack.postgres.url}' -c "update strata_demo.players set level = level + 1 where id = 'seed-ada'"`,
      `  curl ${base}/players/seed-ada   # the new level within about a second: the relay rides on requests`,
      `Ctrl-C (or \`kill ${process.pid}\`) stops the demo and the devstack.`,
      '',
    ].join('\n'),
  );
  log(`open ${base}/players/${SEED_PLAYERS[0].id} ${base}/leaderboard ${base}/stats ${base}/dashboard`);
} catch (err) {
  console.error(`start: FAILED: ${err instanceof Error ? err.message : err}`);
  await shutdown(1);
}
