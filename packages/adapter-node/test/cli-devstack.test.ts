import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodeEnvelope } from '@strata/core/driver';
import { uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from './support/run-cli.js';
import { scratch } from './support/scratch.js';

// The flow the README gives: `strata-devstack` in one terminal prints env lines; `strata` in another
// uses them. L2 is then the devstack's Upstash REST endpoint only (no REDIS_URL is passed).
const devstackCli = fileURLToPath(new URL('../../devstack/dist/cli.js', import.meta.url));
const config = fileURLToPath(new URL('./fixtures/strata.config.mjs', import.meta.url));
const space = scratch('cli_devstack');
const name = space.name;
let devstack: ChildProcess | undefined;
let devEnv: Record<string, string> = {};

beforeAll(async () => {
  devstack = spawn(process.execPath, [devstackCli, '--embedded', 'never'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  devEnv = await new Promise<Record<string, string>>((resolve, reject) => {
    devstack!.once('exit', (code) => reject(new Error(`strata-devstack exited ${code}: ${out}`)));
    devstack!.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      // The env lines come together, DATABASE_URL last.
      if (!/^DATABASE_URL=.*\n/m.test(out)) return;
      resolve(Object.fromEntries([...out.matchAll(/^([A-Z_]+)=(.*)$/gm)].map(([, k, v]) => [k!, v!])));
    });
  });
}, 30_000);

afterAll(async () => {
  await space.cleanup();
  if (devstack && devstack.exitCode === null) {
    const exited = new Promise((done) => devstack!.once('exit', done));
    devstack.kill('SIGTERM');
    await exited;
  }
});

/** `strata` with only what the devstack printed (and the fixture's name): no REDIS_URL. */
function strata(args: string[]) {
  return runCli([...args, '--config', config], {
    PATH: process.env.PATH,
    UPSTASH_REDIS_REST_URL: devEnv.UPSTASH_REDIS_REST_URL,
    UPSTASH_REDIS_REST_TOKEN: devEnv.UPSTASH_REDIS_REST_TOKEN,
    DATABASE_URL: devEnv.DATABASE_URL,
    STRATA_CLI_TEST_NAME: name,
  });
}

it('migrate, warm, stats and invalidate work with the env lines strata-devstack prints', async () => {
  expect(Object.keys(devEnv)).toEqual(
    expect.arrayContaining(['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'DATABASE_URL']),
  );
  expect(await strata(['migrate'])).toMatchObject({ code: 0, stderr: '' });
  await space.pool.query(
    `insert into "${name}".players (id, level) select 'd' || g, g from generate_series(1, 12) g`,
  );

  expect(await strata(['warm', 'players'])).toMatchObject({ code: 0, stdout: 'warmed 12 rows of players\n' });
  // Read back through the same Upstash endpoint the CLI wrote through.
  const upstash = new Redis({ url: devEnv.UPSTASH_REDIS_REST_URL!, token: devEnv.UPSTASH_REDIS_REST_TOKEN! });
  const rowKeys = async () =>
    (await upstash.keys(`${name}:${name}.players:*`)).filter((k) => /:r:d\d+$/.test(k));
  expect(await rowKeys()).toHaveLength(12);

  const stats = JSON.parse((await strata(['stats'])).stdout) as { rows: Record<string, number> };
  expect(stats.rows).toEqual({ players: 12 });

  expect(await strata(['invalidate', 'players', 'd5'])).toMatchObject({ code: 0 });
  // d5's row is gone; its key keeps the version as a marker (a miss that refuses older fills).
  const d5 = (await rowKeys()).find((key) => key.endsWith(':d5'))!;
  expect(decodeEnvelope((await upstash.get<string>(d5))!)).toMatchObject({ kind: 'x', payload: '' });
  expect(await strata(['invalidate', 'players'])).toMatchObject({ code: 0 });
  // A whole-schema invalidation is one INCR of the generation: the generation-0 rows are out of reach.
  expect(await upstash.get(`${name}:${name}.players:gen`)).toBe(1);
  expect((await strata(['warm', 'players', '--limit', '3'])).code).toBe(0);
  const values = await upstash.mget<(string | null)[]>(...(await rowKeys()));
  expect(values.filter((v) => typeof v === 'string' && decodeEnvelope(v)?.generation === 1)).toHaveLength(3);

  // A wrong token is the devstack's 401, reported as one line and exit 1, not a stack trace.
  const refused = await runCli(['warm', 'players', '--config', config], {
    PATH: process.env.PATH,
    UPSTASH_REDIS_REST_URL: devEnv.UPSTASH_REDIS_REST_URL,
    UPSTASH_REDIS_REST_TOKEN: 'wrong',
    DATABASE_URL: devEnv.DATABASE_URL,
    STRATA_CLI_TEST_NAME: uniqueName('cli_devstack_refused'),
  });
  expect(refused.code).toBe(1);
  expect(refused.stderr.trim().split('\n')).toHaveLength(1);
}, 60_000);
