/**
 * docs/workers.md's local Worker set-up, followed to the letter from a folder outside the repository:
 * its Worker block as `src/index.ts`, its `wrangler.toml`, the devstack CLI's stdout as `.dev.vars`, then
 * `npx wrangler dev`. A request must reach Postgres (L3) through the devstack's Neon HTTP endpoint
 * and fill Redis (L2) through its Upstash endpoint.
 */
import type { ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createScratchDatabase,
  freePort,
  type ScratchDatabase,
  spawnGroup,
  stopGroup,
  uniqueName,
  waitForLine,
} from '@strata/devstack';
import { Redis } from '@upstash/redis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const cli = join(root, 'packages/devstack/dist/cli.js');
// wrangler bundles the workspace packages from their dist: `npm test` builds them before vitest.
const needed = [
  cli,
  join(root, 'packages/core/dist/index.js'),
  join(root, 'packages/adapter-workers/dist/index.js'),
];
const table = uniqueName('readme_worker_players');
// The devstack's Postgres database (STRATA_DATABASE_URL), this test's alone: the docs' Worker
// creates Strata's `_strata_versions` there on its first read. Dropped in afterAll.
let scratch: ScratchDatabase | undefined;

let dir: string;
let devstack: ChildProcess | undefined;
let wrangler: ChildProcess | undefined;
let bindings: Record<string, string> = {};
const output: string[] = [];
/**
 * The docs' Worker names no keyPrefix, so its app-wide keys are Strata's default ones. Those this
 * test finds absent at the start are its own, and go at the end; ones that were there stay.
 */
const APP_KEYS = ['strata:boot', 'strata:tick', 'strata:invalidate:log', 'strata:l3'];
let appKeysBefore: string[] = [];

/** A block of docs/workers.md (the Worker, its wrangler.toml), as the page shows it. */
function workersDocBlock(info: string): string {
  const page = readFileSync(join(root, 'docs/workers.md'), 'utf8');
  const block = new RegExp(`\`\`\`${info}\\n([\\s\\S]*?)\`\`\``).exec(page)?.[1];
  if (!block) throw new Error(`docs/workers.md has no \`\`\`${info} block`);
  return block;
}

/** Runs `work` on a node-postgres connection to the devstack's DATABASE_URL (the backing Postgres). */
async function postgres(work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: bindings.DATABASE_URL });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

/** The devstack's Upstash endpoint, as the Worker reaches it. */
function redisOf(vars: Record<string, string>): Redis {
  return new Redis({ url: vars.UPSTASH_REDIS_REST_URL!, token: vars.UPSTASH_REDIS_REST_TOKEN! });
}

/** KEY=value lines of a .dev.vars file; comments and blank lines skipped. */
function parseDevVars(text: string): Record<string, string> {
  const entries = text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
  return Object.fromEntries(entries);
}

beforeAll(async () => {
  for (const file of needed) expect(existsSync(file), `${file}: build first (npm test does)`).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'strata-readme-worker-'));
  // The app's own dependencies: the repository's installed packages.
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  await mkdir(join(dir, 'src'));
  writeFileSync(join(dir, 'src/index.ts'), workersDocBlock('ts worker-quickstart'));
  writeFileSync(
    join(dir, 'src/schema.ts'),
    `import { defineSchema } from '@strata/core';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
export const players = pgTable('${table}', {
  id: text('id').primaryKey(),
  username: text('username').notNull(),
  level: integer('level').notNull().default(1),
});
export const playerSchema = defineSchema({ table: players, l1: { ttl: '60s' }, l2: { ttl: '5m' } });
`,
  );
  writeFileSync(join(dir, 'wrangler.toml'), workersDocBlock('toml worker-wrangler'));

  // `node <strata>/packages/devstack/dist/cli.js > .dev.vars`, as docs/workers.md says.
  scratch = await createScratchDatabase('readme_worker');
  const devVars = openSync(join(dir, '.dev.vars'), 'w');
  devstack = spawnGroup(process.execPath, [cli], {
    cwd: dir,
    stdio: ['ignore', devVars, 'pipe'],
    env: { ...process.env, STRATA_DATABASE_URL: scratch.url },
  });
  closeSync(devVars); // the child has its own copy
  // It writes the block before it says so on stderr.
  await waitForLine(devstack, devstack.stderr!, /^devstack: ready/, 30_000, output);
  bindings = parseDevVars(readFileSync(join(dir, '.dev.vars'), 'utf8'));
  // The keyPrefix claim names the database: one naming an earlier run's scratch database of this
  // test (an aborted run left it) would refuse this run's Worker L2 for an hour.
  const claim = await redisOf(bindings).get<string>('strata:l3');
  if (typeof claim === 'string' && /\/t_readme_worker_/.test(claim)) await redisOf(bindings).del('strata:l3');
  appKeysBefore = await redisOf(bindings)
    .keys('strata:*')
    .then((keys) => APP_KEYS.filter((k) => keys.includes(k)));

  // The row is put there straight over the wire protocol: the Worker is what goes through the devstack.
  await postgres(async (client) => {
    await client.query(
      `create table "${table}" (id text primary key, username text not null, level integer not null default 1)`,
    );
    await client.query(`insert into "${table}" (id, username, level) values ('p1', 'ada', 7)`);
  });

  const port = await freePort();
  wrangler = spawnGroup(
    'npx',
    ['wrangler', 'dev', '--port', String(port), '--ip', '127.0.0.1', '--show-interactive-dev-session=false'],
    { cwd: dir, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' } },
  );
  wrangler.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  await waitForLine(wrangler, wrangler.stdout!, /Ready on http:\/\/127\.0\.0\.1:\d+/, 90_000, output);
  bindings.BASE = `http://127.0.0.1:${port}`;
}, 150_000);

afterAll(async () => {
  if (wrangler) await stopGroup(wrangler);
  if (bindings.UPSTASH_REDIS_REST_URL) {
    const redis = redisOf(bindings);
    const keys = await redis.keys(`strata:${table}:*`);
    const ownAppKeys = APP_KEYS.filter((key) => !appKeysBefore.includes(key));
    if (keys.length + ownAppKeys.length > 0) await redis.del(...keys, ...ownAppKeys);
  }
  if (devstack) await stopGroup(devstack);
  await scratch?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

it("docs/workers.md's Worker runs under wrangler dev on the .dev.vars the devstack prints: L3 read, L2 filled", async () => {
  const response = await fetch(`${bindings.BASE}/players/p1`);
  const text = await response.clone().text();
  // On a 500 wrangler answers with an HTML page: its error line is what matters.
  const why = /(NeonDbError|StrataError)[^\n<]*/.exec(text)?.[0] ?? text.slice(0, 300);
  expect(response.status, `${why}\n${output.slice(-20).join('\n')}`).toBe(200);
  expect(await response.json()).toEqual({ id: 'p1', username: 'ada', level: 7 });

  // Exactly the names createStrata reads, and nothing else.
  expect(Object.keys(bindings)).toEqual([
    'UPSTASH_REDIS_REST_URL',
    'UPSTASH_REDIS_REST_TOKEN',
    'DATABASE_URL',
    'NEON_FETCH_ENDPOINT',
    'BASE',
  ]);

  // The fill runs after the response (ctx.waitUntil): the row lands in Redis through the Upstash endpoint.
  const redis = new Redis({
    url: bindings.UPSTASH_REDIS_REST_URL!,
    token: bindings.UPSTASH_REDIS_REST_TOKEN!,
  });
  const [key] = await vi.waitFor(
    async () => {
      // The row's key (the table's other keys: its generation, live shapes…).
      const keys = (await redis.keys(`strata:${table}:*`)).filter((k) => k.includes(':r:'));
      expect(keys).toHaveLength(1);
      return keys;
    },
    { timeout: 10_000 },
  );
  expect(key).toMatch(/:r:p1$/);
  expect(String(await redis.get(key!))).toContain('ada');

  const absent = await fetch(`${bindings.BASE}/players/nobody`);
  expect(absent.status).toBe(404);
  expect(await absent.text()).toBe('not found');
}, 60_000);
