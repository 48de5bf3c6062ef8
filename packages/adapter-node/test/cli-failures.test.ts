import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@strata/devstack';
import { afterAll, expect, it } from 'vitest';
import { type CliOutcome, runCli } from './support/run-cli.js';
import { scratch } from './support/scratch.js';

// What the CLI says when a service is down or a migration fails: which one, where, what stayed.
const config = fileURLToPath(new URL('./fixtures/strata.config.mjs', import.meta.url));
const space = scratch('cli_failures');
const { name } = space;
let dir: string | undefined;

afterAll(async () => {
  await space.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The CLI with only the environment given (and the fixture's name): no Redis unless set. */
function cli(args: string[], env: Record<string, string>): Promise<CliOutcome> {
  return runCli([...args, '--config', config], {
    PATH: process.env.PATH,
    DATABASE_URL: space.databaseUrl,
    STRATA_CLI_TEST_NAME: name,
    ...env,
  });
}

it('Redis down: warm and invalidate name the URL (password redacted) and exit 1', async () => {
  const port = await freePort();
  const redisUrl = `redis://:hunter2@127.0.0.1:${port}`;
  for (const args of [
    ['warm', 'players'],
    ['invalidate', 'players', 'p1'],
    ['invalidate', 'players'],
  ]) {
    const run = await cli(args, { REDIS_URL: redisUrl });
    expect(run, args.join(' ')).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `strata: Redis at redis://:***@127.0.0.1:${port} could not be reached: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    });
  }

  const upstashPort = await freePort();
  const upstash = await cli(['warm', 'players'], {
    UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${upstashPort}`,
    UPSTASH_REDIS_REST_TOKEN: 'token',
  });
  expect(upstash).toMatchObject({ code: 1, stdout: '' });
  expect(upstash.stderr).toBe(
    `strata: Redis (Upstash REST) at http://127.0.0.1:${upstashPort}/ could not be reached: connect ECONNREFUSED 127.0.0.1:${upstashPort}\n`,
  );
});

it('no Redis configured: warm and invalidate refuse rather than report work they did not do', async () => {
  const run = await cli(['invalidate', 'players', 'p1'], {});
  expect(run).toMatchObject({ code: 1, stdout: '' });
  expect(run.stderr).toMatch(/^strata: invalidate needs Redis: set REDIS_URL, or UPSTASH_REDIS_REST_URL/);
});

it('a write-behind schema without Redis, or an encrypted field without the key: named before any connection, exit 1', async () => {
  const secure = fileURLToPath(new URL('./fixtures/strata-secure.config.mjs', import.meta.url));
  const run = (env: Record<string, string>) =>
    runCli(['status', '--config', secure], {
      PATH: process.env.PATH,
      DATABASE_URL: space.databaseUrl,
      STRATA_CLI_TEST_NAME: name,
      ...env,
    });
  expect(await run({})).toMatchObject({
    code: 1,
    stdout: '',
    stderr:
      'strata: schema events is write-behind, which needs Redis for every command: set REDIS_URL, or UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (or redisUrl / upstash in the config)\n',
  });
  expect(await run({ REDIS_URL: space.redisUrl })).toMatchObject({
    code: 1,
    stdout: '',
    stderr:
      "strata: schema accounts has encrypted fields: set STRATA_ENCRYPTION_KEY (or encryptionKey in the config) to the app's key\n",
  });
  // With both, as the Worker's bindings would give them: the command runs.
  const key = Buffer.alloc(32, 7).toString('hex');
  expect(await run({ REDIS_URL: space.redisUrl, STRATA_ENCRYPTION_KEY: key })).toMatchObject({
    code: 0,
    stdout: 'no migrations applied\n',
    stderr: '',
  });
});

it('Postgres down: the URL (password redacted) and exit 1', async () => {
  const port = await freePort();
  const run = await cli(['status'], { DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${port}/test` });
  expect(run).toMatchObject({
    code: 1,
    stdout: '',
    stderr: `strata: Postgres at postgres://postgres:***@127.0.0.1:${port}/test could not be reached: connect ECONNREFUSED 127.0.0.1:${port}\n`,
  });
});

it('a failed migrate-from says which files of the run stay applied and which were not, exit 1', async () => {
  expect((await cli(['migrate'], {})).code).toBe(0);
  dir = await mkdtemp(join(tmpdir(), `${name}-`));
  await writeFile(join(dir, '001_ok.sql'), `create table "${name}".ok (id int primary key);`);
  await writeFile(join(dir, '002_broken.sql'), `creat table "${name}".broken (id int);`);
  await writeFile(join(dir, '003_later.sql'), `create table "${name}".later (id int primary key);`);

  const run = await cli(['migrate-from', dir], {});
  expect(run.code).toBe(1);
  expect(run.stdout).toBe('applied 001_ok.sql\n');
  expect(run.stderr).toMatch(/^strata: migration 002_broken\.sql failed at line 1 \(SQLSTATE 42601\): /);
  expect(run.stderr).toMatch(
    /\. Applied by this run \(they stay\): 001_ok\.sql; not applied: 002_broken\.sql, 003_later\.sql\n$/,
  );
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
  const { rows } = await space.pool.query(
    `select file_name from "${name}"._strata_migrations where schema is null order by id`,
  );
  expect(rows.map((row: { file_name: string }) => row.file_name)).toEqual(['001_ok.sql']);

  await writeFile(join(dir, '002_broken.sql'), `create table "${name}".broken (id int);`);
  expect(await cli(['migrate-from', dir], {})).toMatchObject({
    code: 0,
    stdout: 'applied 002_broken.sql\napplied 003_later.sql\n2 applied, 1 already applied\n',
  });
});
