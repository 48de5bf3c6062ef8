import { rmSync } from 'node:fs';
import { createScratchDatabase, type ScratchDatabase } from '@strata/devstack';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newcomerFolder, quickstartCommands, runQuickstart } from './support/readme-app.js';

// readme-quickstart.test.ts imports the block inside vitest, whose module handling is not an app's:
// it passed while the Quick start failed in an `npm init -y` folder (tsx compiles a "commonjs"
// package's .ts to CJS, which refuses top-level await). Here the README's commands run as written,
// in such a folder, in child processes: Node, tsx, the devstack CLI, the built packages.
//
// Apart from the README: the devstack's Postgres is a database of this test alone (STRATA_DATABASE_URL,
// dropped afterwards), and the app's Redis keys are under a prefix of this run (STRATA_KEY_PREFIX).
let scratch: ScratchDatabase;
const keyPrefix = uniqueName('quickstart_app');
const folders: string[] = [];

/** A newcomer's shell: no variable of this test run (vitest's, npm's) leaks into the commands. */
function shellEnv(): NodeJS.ProcessEnv {
  const stack = testDevstack();
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...(process.env.TMPDIR && { TMPDIR: process.env.TMPDIR }),
    STRATA_DATABASE_URL: scratch.url,
    ...(stack.redis.url && { STRATA_REDIS_URL: stack.redis.url }),
    STRATA_KEY_PREFIX: keyPrefix,
  };
}

async function folder(): Promise<string> {
  const dir = await newcomerFolder(shellEnv());
  folders.push(dir);
  return dir;
}

beforeAll(async () => {
  scratch = await createScratchDatabase('quickstart_app', testDevstack().postgres.url);
}, 30_000);

afterAll(async () => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  await scratch?.drop();
  const redis = new Redis(testDevstack().upstash!);
  const keys = await redis.keys(`${keyPrefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
}, 30_000);

it("the README's Quick start commands run its quickstart.ts in a fresh npm init -y folder", async () => {
  const outcome = await runQuickstart(await folder(), quickstartCommands(), shellEnv(), 90_000);
  expect(outcome.timedOut, outcome.stderr).toBe(false);
  expect(outcome, outcome.stderr).toMatchObject({ code: 0 });
  expect(outcome.stdout.trim().split('\n').at(-1)).toBe('andrew 1 a@example.com');

  // What it wrote is in the devstack's Postgres, the e-mail as ciphertext; its keys under the prefix.
  const client = new pg.Client({ connectionString: scratch.url });
  await client.connect();
  try {
    const { rows } = await client.query(`select username, email from quickstart_players where id = 'p1'`);
    expect(rows[0]?.username).toBe('andrew');
    expect(String(rows[0]?.email)).toMatch(/^v2\.k0\./);
  } finally {
    await client.end();
  }
  const redis = new Redis(testDevstack().upstash!);
  expect(await redis.keys(`${keyPrefix}:quickstart_players:*`)).not.toEqual([]);
}, 150_000);

// The harness sees what the newcomer saw: without the README's line, the same folder fails.
it('fails as it did for the newcomer when the folder stays "type": "commonjs"', async () => {
  const commands = quickstartCommands();
  const withoutModule = commands.filter((line) => line.trim() !== 'npm pkg set type=module');
  expect(withoutModule.length, 'the README no longer says `npm pkg set type=module`').toBe(
    commands.length - 1,
  );
  const outcome = await runQuickstart(await folder(), withoutModule, shellEnv(), 90_000);
  expect(outcome.timedOut, outcome.stderr).toBe(false);
  expect(outcome.code).not.toBe(0);
  expect(outcome.stderr).toContain('Top-level await is currently not supported with the "cjs" output format');
}, 150_000);
