// The demo worker under load, in workerd: `node scripts/start.mjs` (devstack + db:push + wrangler dev
// + seed) as a child process, then autocannon from this process over loopback, bounded in time and
// in requests. Three paths, interleaved (A B C A B C):
//   GET /health            no Strata at all: the floor of wrangler dev + workerd + Hono;
//   GET /players/seed-ada  cached read: an L1 hit in the isolate after the first request;
//   GET /players/<absent>  uncached read: an id no tier has, so every request goes L1 -> L2 (one
//                          Upstash request) -> L3 (one Neon HTTP query) and answers 404 NOT_FOUND.
//                          (negativeTtl is off in the demo, so nothing caches the absence.)
// The child is stopped with SIGTERM to its PID; start.mjs then stops wrangler's process group and
// its devstack. Nothing else is signalled.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase } from '@strata/devstack';
import autocannon from 'autocannon';
import { sleep } from '../lib/stats.mjs';

const START_TIMEOUT_MS = 120_000;

function startDemo(log, databaseUrl) {
  const script = fileURLToPath(new URL('../../scripts/start.mjs', import.meta.url));
  const child = spawn(process.execPath, [script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
    // A database of the bench's own: the demo's tables (`strata_demo`) stay after npm start, and a
    // user's own `npm start` data there is theirs, not the bench's to write over or leave behind.
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', STRATA_DATABASE_URL: databaseUrl },
  });
  const lines = [];
  const url = new Promise((done, fail) => {
    const timer = setTimeout(
      () =>
        fail(
          new Error(
            `demo did not start within ${START_TIMEOUT_MS / 1000} s:\n${lines.slice(-15).join('\n')}`,
          ),
        ),
      START_TIMEOUT_MS,
    );
    const onData = (chunk) => {
      for (const line of String(chunk).split('\n')) {
        if (!line.trim()) continue;
        lines.push(line);
        const m = line.match(/^start: open (http:\/\/127\.0\.0\.1:\d+)\//);
        if (m) {
          clearTimeout(timer);
          done(m[1]);
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`scripts/start.mjs exited (${code ?? signal}):\n${lines.slice(-15).join('\n')}`));
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    const timeout = sleep(20_000).then(() => 'timeout');
    if ((await Promise.race([exited, timeout])) === 'timeout') {
      log(`scripts/start.mjs (pid ${child.pid}) ignored SIGTERM for 20 s: SIGKILL`);
      child.kill('SIGKILL');
    }
  };
  return { url, stop, pid: child.pid };
}

function cannon(url, { duration, connections, maxOverallRequests }) {
  return new Promise((done, fail) => {
    autocannon(
      { url, duration, connections, maxOverallRequests, timeout: 10, pipelining: 1 },
      (err, result) => (err ? fail(err) : done(result)),
    );
  });
}

export async function loadSuite(_stack, { quick = false, log = console.error } = {}) {
  const scratch = await createScratchDatabase('bench_demo');
  const demo = startDemo(log, scratch.url);
  try {
    const base = await demo.url;
    const absent = `bench-absent-${Date.now().toString(36)}`;
    const paths = [
      ['GET /health (no Strata: the floor)', '/health'],
      ['GET /players/seed-ada (cached: L1 hit)', '/players/seed-ada'],
      [`GET /players/<absent id> (uncached: L1, L2, L3 miss -> 404)`, `/players/${absent}`],
    ];
    for (const [, path] of paths) {
      const res = await fetch(base + path);
      await res.text();
      if (![200, 404].includes(res.status)) throw new Error(`GET ${path}: ${res.status}`);
    }
    const duration = quick ? 2 : 5;
    const connections = 10;
    // A cap on requests as well as on time (autocannon's `amount` would override `duration`).
    const maxOverallRequests = 100_000;
    for (const [, path] of paths)
      await cannon(base + path, { duration: 1, connections, maxOverallRequests: 5_000 }); // warm-up
    const runs = new Map(paths.map(([name]) => [name, []]));
    for (let r = 0; r < 2; r++) {
      for (const [name, path] of paths)
        runs.get(name).push(await cannon(base + path, { duration, connections, maxOverallRequests }));
    }
    const rows = paths.map(([name]) => {
      const results = runs.get(name);
      const requests = results.reduce((s, x) => s + x.requests.total, 0);
      const seconds = results.reduce((s, x) => s + x.duration, 0);
      const errors = results.reduce((s, x) => s + x.errors + x.timeouts, 0);
      const non2xx = results.reduce((s, x) => s + x.non2xx, 0);
      return {
        section: `Demo worker in workerd (wrangler dev), autocannon ${connections} connections, 2 × ${duration} s per path`,
        name,
        // autocannon reports latency in ms; median of the two runs' p50 / worst of their p99.
        median:
          ((Math.min(...results.map((x) => x.latency.p50)) + Math.max(...results.map((x) => x.latency.p50))) /
            2) *
          1e6,
        p99: Math.max(...results.map((x) => x.latency.p99)) * 1e6,
        rps: requests / seconds,
        base: paths[1][0],
        note: `${Math.round(requests / seconds)} req/s; ${requests} requests${errors ? `, ${errors} errors` : ''}${non2xx ? `, ${non2xx} non-2xx` : ''}`,
      };
    });
    const cached = rows[1];
    const uncached = rows[2];
    return {
      rows,
      targets: [
        {
          target: 'Demo: cached read faster than uncached (informational)',
          value: `${(cached.rps / uncached.rps).toFixed(1)}× req/s; p99 ${(cached.p99 / 1e6).toFixed(1)} vs ${(uncached.p99 / 1e6).toFixed(1)} ms`,
          met: cached.rps > uncached.rps,
        },
      ],
    };
  } finally {
    await demo.stop();
    await scratch.drop();
  }
}
