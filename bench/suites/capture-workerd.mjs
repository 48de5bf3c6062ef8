// Change capture in workerd, as Workers run it (docs/change-capture.md): two isolates (each its own
// workerd process under Miniflare) of bench/fixtures/capture-worker.mjs, with the lease relay and the
// invalidation log as their bus, over the devstack's Upstash and Neon HTTP endpoints. Per outside
// UPDATE (a plain pg client, as psql), the time from its COMMIT until both isolates serve the new row
// while requests keep coming: the relay has no process of its own, it polls from requests' waitUntil.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { summarize } from '../lib/stats.mjs';

const RELAY_MS = 1_000;
const POLL_MS = 100;
const BOUND_MS = RELAY_MS + 100; // issue 16: poll interval + 100 ms, p99
const DEADLINE_MS = 10_000;
const SECTION =
  'Change capture: outside UPDATE to invalidation on every isolate (workerd, lease relay, log bus)';
const fixture = fileURLToPath(new URL('../fixtures/capture-worker.mjs', import.meta.url));
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function bundle() {
  const result = await build({
    entryPoints: [fixture],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    external: ['node:*', 'cloudflare:*'],
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

async function call(mf, path) {
  const res = await mf.dispatchFetch(`http://isolate.test${path}`);
  const text = await res.text();
  if (!res.ok) throw new Error(`capture-workerd: ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

export async function captureWorkerdSuite(stack, { quick = false } = {}) {
  const updates = quick ? 10 : 60;
  const { devstack } = stack;
  const bindings = {
    UPSTASH_REDIS_REST_URL: stack.upstash.url,
    UPSTASH_REDIS_REST_TOKEN: stack.upstash.token,
    DATABASE_URL: devstack.neon.connectionString,
    NEON_FETCH_ENDPOINT: devstack.neon.httpUrl,
    PG_SCHEMA: stack.name,
    KEY_PREFIX: `${stack.name}-capw`,
    RELAY_MS: String(RELAY_MS),
    POLL_MS: String(POLL_MS),
  };
  const script = await bundle();
  const isolates = [];
  const outside = await stack.pool.connect();
  try {
    for (let i = 0; i < 2; i++) {
      const mf = new Miniflare({
        modules: true,
        script,
        compatibilityDate: '2026-04-01',
        compatibilityFlags: ['nodejs_compat'],
        bindings,
      });
      await mf.ready;
      isolates.push(mf);
    }
    const [a] = isolates;
    await call(a, '/migrate');
    await call(a, '/set?id=hot&n=0');
    const table = `"${stack.name}"."capture_isolates"`;
    const samples = [];
    let relayReads = 0;
    for (let i = 1; i <= updates + 3; i++) {
      // Both isolates hold n = i - 1 in L1: only an invalidation can make them serve i.
      for (const mf of isolates) {
        for (;;) {
          const reply = await call(mf, '/get?id=hot');
          if (reply.n !== i - 1) throw new Error(`capture-workerd: read ${reply.n}, expected ${i - 1}`);
          if (reply.inL1) break;
        }
      }
      // A random phase against the relay's schedule, as outside writes land in production.
      await pause(Math.random() * RELAY_MS);
      await outside.query('begin');
      await outside.query(`update ${table} set n = $1 where id = 'hot'`, [i]);
      const committedAt = performance.now();
      await outside.query('commit');
      const fresh = new Set();
      while (fresh.size < isolates.length) {
        for (const [k, mf] of isolates.entries()) {
          if (fresh.has(k)) continue;
          const reply = await call(mf, '/get?id=hot');
          if (reply.n === i) fresh.add(k);
          relayReads = Math.max(relayReads, reply.relay?.changes ?? 0);
        }
        if (performance.now() - committedAt > DEADLINE_MS)
          throw new Error(
            `capture-workerd: update ${i} not served by both isolates within ${DEADLINE_MS} ms`,
          );
        await pause(2); // requests keep coming, as traffic would: ~200/s per isolate
      }
      if (i > 3) samples.push((performance.now() - committedAt) * 1e6); // 3 warm-up updates
    }
    const { median, p99 } = summarize(samples);
    const p99Ms = p99 / 1e6;
    return {
      rows: [
        {
          section: SECTION,
          name: `${updates} single-row UPDATEs, 2 isolates, COMMIT → both serve the new row`,
          median,
          p99,
          headline: true,
          note: `relay interval ${RELAY_MS} ms (lease, on requests' waitUntil), log bus polled every ${POLL_MS} ms; Neon HTTP + Upstash REST over the devstack`,
        },
      ],
      targets: [
        {
          target: `Change capture in workerd: p99 outside UPDATE → every isolate ≤ relay interval + 100 ms (${BOUND_MS} ms)`,
          value: `${p99Ms.toFixed(0)} ms`,
          met: p99Ms <= BOUND_MS,
        },
      ],
    };
  } finally {
    outside.release();
    await Promise.allSettled(isolates.map((mf) => mf.dispose()));
  }
}
