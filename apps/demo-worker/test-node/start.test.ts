import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createScratchDatabase, processGroupAlive, type ScratchDatabase } from '@strata/devstack';
import { testDevstack } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/chromium.js';
import { FOREIGN_SNAPSHOT, publicSnapshot, putForeignTables } from './support/foreign-tables.js';

/** What the test reads of a uPlot instance (`window.strataDashboard.charts`). */
interface UPlotLike {
  scales: { x: { time?: boolean; min?: number; max?: number } };
  axes: { label?: string }[];
  data: (number | null)[][];
}

// `npm start`'s script end to end: devstack, db:push, `wrangler dev` of the demo, seed, shutdown.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
// wrangler bundles the workspace packages from their dist: `npm test` builds them before vitest.
const needed = ['packages/devstack/dist/index.js', 'packages/core/dist', 'packages/adapter-workers/dist'];

// npm start's Postgres is a database of this test alone (STRATA_DATABASE_URL), holding another
// app's tables in `public` that npm start must leave as they are. Its Redis keys: the prefix npm start
// makes up for its run (read from its output), which it must remove when it stops.
let scratch: ScratchDatabase;
let keyPrefix: string | undefined;
let script: ChildProcess | undefined;
let output = '';
let wranglerGroup: number | undefined;
/** Set by the first step; the later steps use the server it started (vitest runs them in order). */
let base: string | undefined;

async function waitFor<T>(what: string, ms: number, probe: () => T | undefined | Promise<T | undefined>) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((done) => setTimeout(done, 250));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}; output so far:\n${output}`);
}

beforeAll(async () => {
  scratch = await createScratchDatabase('demo_start');
  // npm start ran here before (the demo's tables exist), then another app added its tables: where a
  // push not scoped to the demo drops them (with nothing to create, no rename prompt stops it).
  await promisify(execFile)(process.execPath, ['apps/demo-worker/scripts/db-push.mjs'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: scratch.url },
  });
  await withClient((client) => putForeignTables(client));
}, 60_000);

async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: scratch.url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  await scratch?.drop();
  if (!keyPrefix) return;
  const redis = new Redis(testDevstack().upstash!);
  const keys = await redis.keys(`${keyPrefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
}, 30_000);

afterAll(async () => {
  // Only when the test failed half-way: stop what this test started, by its own pids.
  if (script && script.exitCode === null && script.signalCode === null) {
    script.kill('SIGTERM');
    await waitFor(
      'start.mjs to exit',
      20_000,
      () => script!.exitCode ?? script!.signalCode ?? undefined,
    ).catch(() => script!.kill('SIGKILL'));
  }
  if (wranglerGroup !== undefined && processGroupAlive(wranglerGroup))
    process.kill(-wranglerGroup, 'SIGKILL');
}, 30_000);

describe('npm start (scripts/start.mjs)', () => {
  it('serves the seeded demo', async () => {
    const missing = needed.filter((path) => !existsSync(join(root, path)));
    if (missing.length > 0) {
      throw new Error(`not built: ${missing.join(', ')}. Run \`npm run build\` first (npm test does).`);
    }

    const child = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      // NODE_ENV as a user's shell has it, not vitest's 'test' (under which miniflare skips fetches).
      env: { ...process.env, NODE_ENV: undefined, STRATA_DATABASE_URL: scratch.url, STRATA_KEY_PREFIX: '' },
    });
    script = child;
    child.stdout!.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr!.on('data', (chunk) => {
      output += chunk;
    });

    const open = await waitFor('the "open" line', 75_000, () => {
      if (child.exitCode !== null) throw new Error(`start.mjs exited ${child.exitCode}:\n${output}`);
      return /^start: open (http:\/\/127\.0\.0\.1:\d+)\/players\/(\S+) /m.exec(output) ?? undefined;
    });
    const [, url, playerId] = open as RegExpExecArray;
    // A newcomer's first run prints no warning or stack: offline (this machine reaches no Cloudflare
    // host), miniflare's fetch of `Request.cf` data printed getaddrinfo ENOTFOUND and a stack each start.
    expect(output).not.toMatch(/\[wrangler:(warn|error)\]|ENOTFOUND|^\[wrangler\]\s+(Error\b|at )/m);
    base = url;
    keyPrefix = /^start: Redis keys of this run: (demo_dev_\w+):\* \(removed at stop\)$/m.exec(output)?.[1];
    expect(keyPrefix, output).toBeDefined();
    // The pid it prints is its own, the one to stop it by (wrangler's alone would leave the rest).
    expect(/^start: pid (\d+): Ctrl-C or `kill \d+` stops the demo$/m.exec(output)?.[1], output).toBe(
      String(child.pid),
    );
    const group = /^start: npx wrangler dev: process group (\d+) /m.exec(output);
    expect(group, output).not.toBeNull();
    wranglerGroup = Number(group![1]);
    expect(processGroupAlive(wranglerGroup)).toBe(true);

    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);

    const player = await fetch(`${base}/players/${playerId}`);
    expect(player.status).toBe(200);
    expect(await player.json()).toMatchObject({ id: 'seed-ada', username: 'ada', email: 'ada@example.com' });

    // Scores are write-behind: the leaderboard shows them once the queue has flushed them to Postgres.
    const board = await waitFor('the seeded scores on /leaderboard', 30_000, async () => {
      const res = await fetch(`${base}/leaderboard?limit=100`);
      if (res.status !== 200) return undefined;
      const rows = (await res.json()) as { id: string; points: number }[];
      return rows.some((row) => row.id === 'seed-score-1') ? rows : undefined;
    });
    expect(board).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: 'seed-score-1', playerId: 'seed-ada', points: 4200 }),
        expect.objectContaining({ id: 'seed-score-2', playerId: 'seed-grace', points: 3900 }),
      ]),
    );

    const stats = await fetch(`${base}/stats`);
    expect(stats.status).toBe(200);
  }, 120_000);

  it('serves an update made with a plain Postgres client (change capture, as the README shows)', async () => {
    expect(base, 'the first step did not start the demo').toBeDefined();
    const before = (await (await fetch(`${base}/players/seed-ada`)).json()) as { level: number };
    const level = before.level + 35;
    const client = new pg.Client({ connectionString: scratch.url });
    await client.connect();
    try {
      const updated = await client.query('update strata_demo.players set level = $1 where id = $2', [
        level,
        'seed-ada',
      ]);
      expect(updated.rowCount).toBe(1);
    } finally {
      await client.end();
    }
    // The read that served the old level before is a cache hit; the relay (on requests, every second at
    // most) turns the captured update into an invalidation, and a later read answers the new level.
    const served = await waitFor('the outside update on /players/seed-ada', 10_000, async () => {
      const player = (await (await fetch(`${base}/players/seed-ada`)).json()) as { level: number };
      return player.level === level ? player : undefined;
    });
    expect(served).toMatchObject({ id: 'seed-ada', email: 'ada@example.com', level });
    const stats = (await (await fetch(`${base}/stats`)).json()) as {
      capture: {
        changesApplied: number;
        relay: { lagMs: number; changes: number } | null;
        notInstalled: string[];
      };
    };
    expect(stats.capture.changesApplied).toBeGreaterThanOrEqual(1);
    expect(stats.capture.relay?.changes).toBeGreaterThanOrEqual(1);
    expect(stats.capture.relay?.lagMs).toBeGreaterThanOrEqual(0);
    // capture install registered the Worker's own app (its keyPrefix): installed as the Worker sees it,
    // and the demo's seeds were not logged as another app's writes (only the update above, app null).
    expect(stats.capture.notInstalled).toEqual([]);
    await withClient(async (client) => {
      const apps = await client.query('select distinct app from strata_demo._strata_capture_apps');
      expect(apps.rows).toEqual([{ app: keyPrefix }]);
      const own = await client.query(
        'select count(*)::int as n from strata_demo._strata_changes where app is not null',
      );
      expect(own.rows).toEqual([{ n: 0 }]);
    });
  }, 30_000);

  it('plots /dashboard in headless Chromium from live /stats, with no console or CSP error', async () => {
    expect(base, 'the first step did not start the demo').toBeDefined();
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      // The button reads one absent player on purpose (a 404, the negative-cache path): only that
      // 404 is expected; HTTP errors are checked by URL below, so Chromium's "Failed to load" echo is not.
      page.on('console', (msg) => {
        if (msg.text().startsWith('Failed to load resource')) return;
        if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`${msg.type()}: ${msg.text()}`);
      });
      page.on('response', (r) => {
        if (r.status() >= 400 && !r.url().includes('/players/nobody-'))
          problems.push(`${r.status()}: ${r.url()}`);
      });
      page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
      page.on('requestfailed', (req) => problems.push(`requestfailed: ${req.url()}`));

      await page.setViewportSize({ width: 1280, height: 900 });
      await page.addInitScript(() => {
        const violations: string[] = [];
        (window as unknown as { cspViolations: string[] }).cspViolations = violations;
        document.addEventListener('securitypolicyviolation', (e) =>
          violations.push(`${e.violatedDirective} ${e.blockedURI}`),
        );
      });
      const res = await page.goto(`${base}/dashboard?every=250`);
      expect(res?.status()).toBe(200);
      await page
        .waitForFunction(() => document.getElementById('status')?.textContent === 'live')
        .catch((err: Error) => {
          throw new Error(`${err.message}; the page reported:\n${problems.join('\n')}`);
        });
      // The page's own button sends 40 reads: the next samples must show them.
      const before = Number(await page.textContent('#hits-l1'));
      await page.click('#traffic');
      // The reads run concurrently: a sample can show 20 hits before the absent player's 404 counts.
      await page.waitForFunction(
        (n) =>
          Number(document.getElementById('hits-l1')?.textContent) >= n + 20 &&
          Number(document.getElementById('client-errors')?.textContent) >= 1,
        before,
      );
      await page.waitForFunction(() =>
        ['hits', 'latency', 'queue', 'relay'].every(
          (name) => Number(document.getElementById(`chart-${name}`)?.dataset.points) >= 3,
        ),
      );
      // Four uPlot charts, each a drawn canvas with an x (time) and a y axis and a legend.
      const charts = await page.$$eval('.chart', (els) =>
        els.map((el) => {
          const canvas = el.querySelector<HTMLCanvasElement>('.uplot canvas');
          const pixels = canvas?.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data;
          let inked = 0;
          for (let i = 3; pixels && i < pixels.length; i += 4) if (pixels[i]! > 0) inked += 1;
          return {
            id: el.id,
            inked,
            axes: el.querySelectorAll('.u-axis').length,
            legend: Array.from(el.querySelectorAll('.u-legend .u-series .u-label')).map((l) => l.textContent),
          };
        }),
      );
      expect(charts.map((chart) => chart.id)).toEqual([
        'chart-hits',
        'chart-latency',
        'chart-queue',
        'chart-relay',
      ]);
      expect(charts.map((chart) => chart.legend)).toEqual([
        ['time', 'L1', 'L2', 'L3'],
        ['time', 'L2 p50', 'L2 p99', 'L3 p50', 'L3 p99'],
        ['time', 'queued writes'],
        ['time', 'since the log was last read'],
      ]);
      for (const chart of charts) {
        expect(chart.axes, chart.id).toBe(2);
        expect(chart.inked, chart.id).toBeGreaterThan(1_000); // axes, grid and lines, not a blank canvas
      }
      // The x axis is a time scale up to now (15 s to 2 min of it); the axes name their units.
      const scales = await page.evaluate(() => {
        const { charts } = (window as unknown as { strataDashboard: { charts: Record<string, UPlotLike> } })
          .strataDashboard;
        return Object.fromEntries(
          Object.entries(charts).map(([name, u]) => [
            name,
            {
              time: u.scales.x.time,
              min: u.scales.x.min,
              max: u.scales.x.max,
              labels: u.axes.map((axis) => axis.label),
              data: u.data,
            },
          ]),
        );
      });
      const now = Date.now() / 1000;
      for (const [name, scale] of Object.entries(scales)) {
        expect(scale.time, name).toBe(true);
        expect(scale.max, name).toBeGreaterThan(now - 30);
        expect(scale.max! - scale.min!, name).toBeGreaterThanOrEqual(15);
        expect(scale.max! - scale.min!, name).toBeLessThanOrEqual(120);
      }
      expect([
        scales.hits!.labels,
        scales.latency!.labels,
        scales.queue!.labels,
        scales.relay!.labels,
      ]).toEqual([
        ['local time', 'hit ratio (%)'],
        ['local time', 'latency (ms)'],
        ['local time', 'queued writes'],
        ['local time', 'relay lag (ms)'],
      ]);
      // The page's own polls keep the relay reading: its lag is plotted, and stays within a few seconds.
      const lags = scales.relay!.data[1]!.filter((v): v is number => v !== null);
      expect(lags.length).toBeGreaterThan(0);
      expect(Math.min(...lags)).toBeLessThan(5_000);
      expect(await page.textContent('#relay-lag')).toMatch(/^\d+(\.\d)? ms$/);
      expect(Number(await page.textContent('#outside-changes'))).toBeGreaterThanOrEqual(1);
      // The button's reads show: an L1 hit ratio in 0–100 %, and L3 latency in ms.
      const ratios = scales.hits!.data[1]!.filter((v): v is number => v !== null);
      expect(ratios.length).toBeGreaterThan(0);
      for (const ratio of ratios) expect(ratio).toBeGreaterThanOrEqual(0);
      for (const ratio of ratios) expect(ratio).toBeLessThanOrEqual(100);
      expect(Math.max(...scales.latency!.data[4]!.map(Number))).toBeGreaterThan(0);
      // The readouts are the Worker's own numbers.
      const stats = (await (await fetch(`${base}/stats`)).json()) as { latency: { l2: { calls: number } } };
      expect(stats.latency.l2.calls).toBeGreaterThan(0);
      const l3p99 = (await page.textContent('#l3-p99')) ?? '';
      expect(l3p99).toMatch(/^\d+(\.\d)? ms$/);
      expect(Number.parseFloat(l3p99)).toBeGreaterThan(0);
      // The button's one absent player is a 404: the client's, shown apart from the errors.
      expect(Number(await page.textContent('#client-errors'))).toBeGreaterThanOrEqual(1);
      expect(await page.textContent('#errors')).toBe('0');
      expect(await page.textContent('#server-errors')).toBe('0');
      expect(await page.textContent('#queue-depth')).toMatch(/^\d+$/);
      // Staleness and tag counters (the demo's players have stale/grace windows): shown as numbers.
      for (const id of ['#stale-hits', '#refreshes', '#grace-hits', '#tag-invalidations'])
        expect(await page.textContent(id)).toMatch(/^\d+/);
      expect(
        await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations),
      ).toEqual([]);
      if (process.env.STRATA_DASHBOARD_SCREENSHOT) {
        await page.screenshot({ path: process.env.STRATA_DASHBOARD_SCREENSHOT, fullPage: true });
      }
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  // After the dashboard step: this 500 is a server error its counters would show.
  it('says DECODE_FAILED and the field when an encrypted field was written from outside', async () => {
    expect(base, 'the first step did not start the demo').toBeDefined();
    const id = 'outside-email';
    const created = await fetch(`${base}/players`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id, username: 'outside_email', email: 'kept@example.com' }),
    });
    expect(created.status).toBe(201);
    const client = new pg.Client({ connectionString: scratch.url });
    await client.connect();
    try {
      await client.query(`update strata_demo.players set email = 'plain@example.com' where id = $1`, [id]);
    } finally {
      await client.end();
    }
    const answer = await waitFor('DECODE_FAILED on /players/outside-email', 10_000, async () => {
      const response = await fetch(`${base}/players/${id}`);
      return response.status === 500 ? { status: response.status, body: await response.json() } : undefined;
    });
    expect(answer.body).toEqual({
      error: 'a stored value cannot be decoded (written outside Strata?)',
      code: 'DECODE_FAILED',
      field: 'email',
    });
    // Deleting needs no decode: the demo is left as it was.
    expect((await fetch(`${base}/players/${id}`, { method: 'DELETE' })).status).toBe(204);
  }, 30_000);

  it('stops wrangler, workerd and the devstack on SIGTERM', async () => {
    const child = script;
    expect(child, 'the first step did not start the demo').toBeDefined();
    if (!child || wranglerGroup === undefined) return;
    // Twice, as Ctrl-C under npm does (the terminal signals the group, then npm passes its own on):
    // the second comes while the first stop runs. One stop, said once.
    child.kill('SIGTERM');
    await waitFor('the stop to begin', 10_000, () =>
      /^start: SIGTERM: stopping$/m.test(output) ? true : undefined,
    );
    child.kill('SIGTERM');
    const code = await waitFor('start.mjs to exit', 30_000, () =>
      child.exitCode !== null || child.signalCode !== null ? (child.exitCode ?? child.signalCode) : undefined,
    );
    expect(code, output).toBe(0);
    expect(output.match(/^start: SIGTERM: stopping$/gm)).toHaveLength(1);
    expect(output).toMatch(/process group \d+ is gone/);
    expect(output).toMatch(/devstack stopped/);
    // The run's encryption key is gone, so are its cached rows: no key of its prefix is left.
    expect(output).toMatch(/removed [1-9]\d* Redis keys of this run/);
    expect(await new Redis(testDevstack().upstash!).keys(`${keyPrefix}:*`)).toEqual([]);
    // Its app's capture registration went too, so runs do not pile up apps on the demo's tables.
    expect(output).toMatch(/removed change capture/);
    await withClient(async (client) => {
      const apps = await client.query('select app from strata_demo._strata_capture_apps');
      expect(apps.rows).toEqual([]);
    });
    // npx, wrangler, esbuild and both workerd processes were in that group: none may remain.
    expect(processGroupAlive(wranglerGroup)).toBe(false);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  }, 120_000);

  it("left another app's tables in public as they were, and kept the demo in its own schema", async () => {
    await withClient(async (client) => {
      expect(await publicSnapshot(client)).toEqual(FOREIGN_SNAPSHOT);
      const demo = await client.query(
        `select table_name from information_schema.tables where table_schema = 'strata_demo' order by 1`,
      );
      // Strata's change log and the apps registered on its tables (capture install) sit there too,
      // beside its versions, the app that writes each table (claimed by the first write) and the
      // marks of its write-behind counters (scores are write-behind), and the dead letters' withdrawals.
      expect(demo.rows.map((r) => r.table_name)).toEqual([
        '_strata_capture_apps',
        '_strata_capture_tables',
        '_strata_changes',
        '_strata_changes_meta',
        '_strata_counters',
        '_strata_versions',
        '_strata_withdrawn',
        '_strata_writers',
        'players',
        'scores',
      ]);
    });
  });
});
