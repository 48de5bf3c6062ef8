/**
 * docs/workers.md's "Testing a Worker in workerd", followed from a folder outside the repository: the
 * page's Worker (`src/index.ts`), its wrangler.toml, and the three blocks of that section as
 * `devstack.setup.ts`, `vitest.config.ts` and `src/index.test.ts`; then `vitest run` there, as a
 * newcomer would. Its test must pass inside workerd and leave its row in Postgres (through the
 * devstack's Neon HTTP endpoint) and in Redis (through its Upstash endpoint).
 *
 * Then its "Write-behind: a real Queue batch in the test": the Queue added to wrangler.toml, the
 * Worker with its `queue()`, and that test, whose score must reach Postgres through Miniflare's Queue.
 *
 * Apart from the page: the devstack's Postgres is a database of this test alone
 * (STRATA_DATABASE_URL, which the page names) and its Redis a throwaway redis-server of this test
 * (STRATA_REDIS_URL): the page's keyPrefix (the setup's STRATA_KEY_PREFIX) is the same on every run.
 */
import type { ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createScratchDatabase,
  type ScratchDatabase,
  type SpawnedRedis,
  spawnGroup,
  spawnRedisServer,
  startUpstashServer,
  stopGroup,
  uniqueName,
} from '@strata/devstack';
import { Redis } from '@upstash/redis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
// The child vitest and wrangler load the workspace packages from their dist: `npm test` builds first.
const needed = ['devstack', 'core', 'adapter-workers'].map((p) => join(root, `packages/${p}/dist/index.js`));
const table = uniqueName('workerd_doc_players');
let scratch: ScratchDatabase | undefined;
let redis: SpawnedRedis | undefined;
let dir: string | undefined;
let child: ChildProcess | undefined;

/** A block of docs/workers.md, by its info string, as the page shows it. */
function workersDocBlock(info: string): string {
  const page = readFileSync(join(root, 'docs/workers.md'), 'utf8');
  const block = new RegExp(`\`\`\`${info}\\n([\\s\\S]*?)\`\`\``).exec(page)?.[1];
  if (!block) throw new Error(`docs/workers.md has no \`\`\`${info} block`);
  return block;
}

/** Runs `command` in the app's folder to its end (or `timeoutMs`, then stops its process group). */
function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<{ code: number | null; output: string; timedOut: boolean }>((done) => {
    let output = '';
    let timedOut = false;
    child = spawnGroup(command, args, { cwd: dir!, env });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      void stopGroup(child!);
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, output, timedOut });
    });
  });
}

/** `npx vitest run` in the app's folder, from a newcomer's shell: no variable of this run leaks into it. */
function vitestRun() {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...(process.env.TMPDIR && { TMPDIR: process.env.TMPDIR }),
    STRATA_DATABASE_URL: scratch!.url,
    STRATA_REDIS_URL: redis!.url,
    WRANGLER_SEND_METRICS: 'false',
    CI: '1',
    NO_COLOR: '1',
  };
  const vitest = join(root, 'node_modules/vitest/vitest.mjs');
  return run(process.execPath, [vitest, 'run'], env, 150_000);
}

/** The app's `vitest run` ends, with its one test passed. */
async function expectOnePassingTest() {
  const outcome = await vitestRun();
  expect(outcome.timedOut, outcome.output).toBe(false);
  expect(outcome.code, outcome.output).toBe(0);
  expect(outcome.output).toMatch(/Tests\s+1 passed/);
}

/** What `sql` reads in this test's database. */
async function rowsOf(sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: scratch!.url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  for (const file of needed) expect(existsSync(file), `${file}: build first (npm test does)`).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'strata-workerd-doc-'));
  // The app's own dependencies (vitest, @cloudflare/vitest-pool-workers, wrangler, @strata/*): the repository's.
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  // `npm init -y` then `npm pkg set type=module`, as the page says.
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'my-worker', type: 'module' })}\n`);
  mkdirSync(join(dir, 'src'));
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
export const scores = pgTable('scores', {
  id: text('id').primaryKey(),
  playerId: text('player_id').notNull(),
  points: integer('points').notNull(),
});
export const scoreSchema = defineSchema({ table: scores, writeMode: 'write-behind' });
`,
  );
  writeFileSync(join(dir, 'wrangler.toml'), workersDocBlock('toml worker-wrangler'));
  writeFileSync(join(dir, 'devstack.setup.ts'), workersDocBlock('ts worker-test-setup'));
  writeFileSync(join(dir, 'vitest.config.ts'), workersDocBlock('ts worker-test-config'));
  writeFileSync(join(dir, 'src/index.test.ts'), workersDocBlock('ts worker-test'));

  scratch = await createScratchDatabase('workerd_doc');
  redis = await spawnRedisServer();
  // The table exists before the tests, as the page says (drizzle-kit push would make it).
  const client = new pg.Client({ connectionString: scratch.url });
  await client.connect();
  try {
    await client.query(
      `create table "${table}" (id text primary key, username text not null, level integer not null default 1)`,
    );
    await client.query(
      'create table scores (id text primary key, player_id text not null, points integer not null)',
    );
  } finally {
    await client.end();
  }
}, 60_000);

afterAll(async () => {
  if (child && child.exitCode === null) await stopGroup(child);
  await redis?.stop();
  await scratch?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

it("docs/workers.md's workerd test set-up runs its test inside workerd against the devstack", async () => {
  await expectOnePassingTest();

  // The test's write went through the devstack to this test's Postgres and Redis.
  expect(await rowsOf(`select id, username, level from "${table}"`)).toEqual([
    { id: 'p1', username: 'ada', level: 7 },
  ]);
  const upstash = await startUpstashServer({ redisUrl: redis!.url, token: 'check' });
  try {
    // Under the setup's STRATA_KEY_PREFIX binding, which createStrata reads in the Worker and the test.
    const keys = await new Redis({ url: upstash.url, token: 'check' }).keys(`my_app_test:${table}:*`);
    expect(keys.filter((key) => key.endsWith(':r:p1'))).toHaveLength(1);
  } finally {
    await upstash.stop();
  }
}, 180_000);

it("docs/workers.md's write-behind test sends a real Queue batch to the Worker's queue(), which flushes it", async () => {
  writeFileSync(
    join(dir!, 'wrangler.toml'),
    `${workersDocBlock('toml worker-wrangler')}\n${workersDocBlock('toml worker-queue-wrangler')}`,
  );
  writeFileSync(join(dir!, 'src/index.ts'), workersDocBlock('ts worker-queue'));
  rmSync(join(dir!, 'src/index.test.ts'));
  writeFileSync(join(dir!, 'src/queue.test.ts'), workersDocBlock('ts worker-queue-test'));
  await expectOnePassingTest();

  // Flushed by queue(), not only laid over Postgres: the row is there, and no write is pending.
  expect(await rowsOf('select id, player_id, points from scores')).toEqual([
    { id: 's1', player_id: 'p1', points: 42 },
  ]);
}, 180_000);
