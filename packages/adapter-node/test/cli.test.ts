import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeEnvelope } from '@strata/core/driver';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type CliOutcome, cliPath, runCli } from './support/run-cli.js';

const config = fileURLToPath(new URL('./fixtures/strata.config.mjs', import.meta.url));
const name = uniqueName('cli');
const { redisUrl, databaseUrl } = serviceUrls();
const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
pool.on('error', () => {});
const db = drizzle({ client: pool });
const redis = new Redis(redisUrl, { lazyConnect: true });
redis.on('error', () => {});
let dir: string | undefined;

/** Runs the built CLI with this file's environment (Postgres, Redis, the fixture's name); no Upstash. */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliOutcome> {
  const base: Record<string, string | undefined> = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
  };
  delete base.UPSTASH_REDIS_REST_URL;
  delete base.UPSTASH_REDIS_REST_TOKEN;
  return runCli(args, { ...base, STRATA_CLI_TEST_NAME: name, ...env });
}

/** The L2 keys holding rows of `players` (not its counters). */
async function rowKeys(): Promise<string[]> {
  return (await redis.keys(`${name}:${name}.players:*`)).filter((key) => /:r:p\d+$/.test(key));
}

beforeAll(() => {
  if (!existsSync(cliPath)) {
    throw new Error(
      `${cliPath} is missing: build first with npm run build -w @strata/adapter-node (npm test does)`,
    );
  }
});

afterAll(async () => {
  await db.execute(sql.raw(`drop schema if exists "${name}" cascade`));
  const keys = await redis.keys(`${name}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await pool.end();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('migrate creates the table; status lists it; migrate-from applies a file that status lists too', async () => {
  const migrate = await cli(['migrate', '--config', config]);
  expect(migrate).toMatchObject({ code: 0, stderr: '' });
  expect(migrate.stdout).toContain(`CREATE TABLE IF NOT EXISTS "${name}"."players"`);
  expect(migrate.stdout).toContain('for players');
  expect((await cli(['migrate', '-c', config])).stdout).toBe('up to date\n');

  dir = await mkdtemp(join(tmpdir(), `${name}-`));
  await writeFile(join(dir, '001_seed.sql'), `insert into "${name}".players (id, level) values ('p0', 5);`);
  const from = await cli(['migrate-from', dir, '--config', config]);
  expect(from).toMatchObject({ code: 0, stdout: 'applied 001_seed.sql\n1 applied, 0 already applied\n' });

  const status = await cli(['status', '--config', config]);
  expect(status.code).toBe(0);
  const lines = status.stdout.trim().split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^\s*\d+ {2}\S+Z {2}players {2}auto:players:\S+ {2}[0-9a-f]{12}$/);
  expect(lines[1]).toMatch(/ {2}\(file\) {2}001_seed\.sql {2}[0-9a-f]{12}$/);
  const json = JSON.parse((await cli(['status', '--json', '--config', config])).stdout) as {
    fileName: string;
  }[];
  expect(json.map((r) => r.fileName)).toEqual([expect.stringMatching(/^auto:players:/), '001_seed.sql']);
});

it('warm --limit loads that many rows into L2 and prints the count, with progress lines on a pipe', async () => {
  const values = Array.from({ length: 24 }, (_, i) => `('p${i + 1}', ${i})`).join(', ');
  await db.execute(sql.raw(`insert into "${name}".players (id, level) values ${values}`));
  const warm = await cli(['warm', 'players', '--limit', '10', '--config', config]);
  expect(warm).toMatchObject({ code: 0, stdout: 'warmed 10 rows of players\n' });
  // Not a terminal: plain lines, no bar redrawn with \r.
  expect(warm.stderr).toBe('warm players: 10/10\n');
  expect(await rowKeys()).toHaveLength(10);

  const all = await cli(['warm', 'players', '--config', config]);
  expect(all.stdout).toBe('warmed 25 rows of players\n');
  expect(await rowKeys()).toHaveLength(25);
});

it('stats prints JSON: rows per schema, migrations, the instance counters', async () => {
  const stats = await cli(['stats', '--config', config]);
  expect(stats.code).toBe(0);
  const parsed = JSON.parse(stats.stdout) as {
    rows: Record<string, number>;
    migrations: number;
    instance: object;
  };
  expect(parsed.rows).toEqual({ players: 25 });
  expect(parsed.migrations).toBe(2);
  expect(parsed.instance).toMatchObject({ gets: 0, sets: 0, l2Breaker: { state: 'closed' } });
});

it('invalidate drops one row from L2, or every row of the schema', async () => {
  const one = await cli(['invalidate', 'players', 'p3', '--config', config]);
  expect(one).toMatchObject({ code: 0, stdout: 'invalidated players p3\n' });
  const keys = await rowKeys();
  // p3's row is gone; its key keeps the version as a marker (a miss that refuses older fills).
  expect(keys).toHaveLength(25);
  const p3 = keys.find((key) => key.endsWith(':p3'))!;
  expect(decodeEnvelope((await redis.get(p3))!)).toMatchObject({ kind: 'x', payload: '' });

  const genKey = `${name}:${name}.players:gen`;
  expect(await redis.get(genKey)).toBeNull();
  const all = await cli(['invalidate', 'players', '--config', config]);
  expect(all).toMatchObject({ code: 0, stdout: 'invalidated every cached row of players\n' });
  // One INCR of the schema's generation: the 24 values cached in generation 0 are out of reach.
  expect(await redis.get(genKey)).toBe('1');
  expect((await cli(['warm', 'players', '--limit', '1', '--config', config])).code).toBe(0);
  const values = await redis.mget(...(await rowKeys()));
  expect(values.filter((v) => v !== null && decodeEnvelope(v)?.generation === 1)).toHaveLength(1);
});

it('usage errors exit 2 with the usage on stderr; --help exits 0', async () => {
  const lines = [
    ['frobnicate'],
    [],
    ['warm'],
    ['stats', '--limit', '3'],
    ['warm', 'players', '--limit', 'x'],
    ['status', '--nope'],
  ];
  const runs = await Promise.all(lines.map((args) => cli(args)));
  for (const [i, run] of runs.entries()) {
    expect(run.code, lines[i]!.join(' ')).toBe(2);
    expect(run.stderr).toContain('Usage: strata <command> [options]');
    expect(run.stdout).toBe('');
  }
  expect((await cli(['frobnicate'])).stderr).toMatch(/^strata: unknown command: frobnicate\n/);
  // A command a letter or two off names the one meant.
  const typo = await cli(['migrat']);
  expect(typo.code).toBe(2);
  expect(typo.stderr).toMatch(/^strata: unknown command: migrat \(did you mean migrate\?\)\n/);
  expect((await cli(['stauts'])).stderr).toMatch(
    /^strata: unknown command: stauts \(did you mean status\?\)\n/,
  );
  const help = await cli(['--help']);
  expect(help).toMatchObject({ code: 0, stderr: '' });
  expect(help.stdout).toContain('migrate-from <dir>');
});

it('failures exit 1 with one line on stderr; --verbose adds the stack', async () => {
  const missing = await cli(['status', '--config', config], { DATABASE_URL: undefined });
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(
    /^strata: DATABASE_URL is not set and .*strata\.config\.mjs has no databaseUrl/,
  );
  expect(missing.stderr.trim().split('\n')).toHaveLength(1);

  const unknown = await cli(['warm', 'nope', '--config', config]);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
  expect(unknown.stderr).toContain('nope');
  const verbose = await cli(['warm', 'nope', '--config', config, '--verbose']);
  expect(verbose.code).toBe(1);
  expect(verbose.stderr).toMatch(/\n\s+at /);

  const noFile = await cli(['status', '--config', 'does-not-exist.mjs']);
  expect(noFile.code).toBe(1);
  expect(noFile.stderr).toMatch(/^strata: config file not found: .*does-not-exist\.mjs\n$/);
});
