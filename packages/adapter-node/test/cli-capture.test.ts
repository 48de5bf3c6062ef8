import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type CliOutcome, cliPath, runCli } from './support/run-cli.js';

// `strata capture install|remove|check` against real Postgres, in a schema of this file's own.
const config = fileURLToPath(new URL('./fixtures/strata.config.mjs', import.meta.url));
const name = uniqueName('cli_capture');
const { redisUrl, databaseUrl } = serviceUrls();
const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
pool.on('error', () => {});

function cli(args: string[]): Promise<CliOutcome> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
  };
  delete env.UPSTASH_REDIS_REST_URL;
  delete env.UPSTASH_REDIS_REST_TOKEN;
  return runCli([...args, '--config', config], { ...env, STRATA_CLI_TEST_NAME: name });
}

beforeAll(() => {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: build first (npm test does)`);
});
afterAll(async () => {
  await pool.query(`drop schema if exists "${name}" cascade`);
  await pool.end();
});

const changes = async () =>
  (await pool.query(`select op, ids from "${name}"."_strata_changes" order by seq`)).rows as {
    op: string;
    ids: string[];
  }[];

it('install, check, remove: check exits 1 while anything is missing, and the log follows psql writes', async () => {
  expect((await cli(['migrate'])).code).toBe(0);
  const before = await cli(['capture', 'check']);
  expect(before.code).toBe(1);
  expect(before.stdout).toContain(`${name}.players: missing table _strata_changes`);
  expect(before.stderr).toBe(
    `strata: change capture is not complete for ${name}.players: run strata capture install\n`,
  );

  const install = await cli(['capture', 'install']);
  expect(install).toMatchObject({ code: 0, stderr: '' });
  expect(install.stdout).toContain(
    `CREATE OR REPLACE TRIGGER "_strata_capture_update" AFTER UPDATE ON "${name}"."players"`,
  );
  expect(install.stdout).toMatch(/installed change capture \(\d+ statement\(s\)\)\n$/);
  // The test's role is a superuser: install could create the event trigger for schema changes.
  expect(await cli(['capture', 'check'])).toMatchObject({
    code: 0,
    stdout: `${name}.players: installed (schema changes: event trigger)\n`,
  });
  const json = JSON.parse((await cli(['capture', 'check', '--json'])).stdout);
  expect(json).toEqual([{ schema: `${name}.players`, installed: true, missing: [], ddl: 'event-trigger' }]);
  // Without the event trigger (disabled here; absent where the role may not create one), still complete.
  const { rows } = await pool.query(
    `select quote_ident(e.evtname) as name from pg_event_trigger e join pg_proc p on p.oid = e.evtfoid where p.pronamespace = $1::regnamespace`,
    [`"${name}"`],
  );
  await pool.query(`alter event trigger ${rows[0].name} disable`);
  expect(await cli(['capture', 'check'])).toMatchObject({
    code: 0,
    stdout: `${name}.players: installed (schema changes: fingerprint check)\n`,
  });
  await cli(['capture', 'install']); // enables it again

  await pool.query(`insert into "${name}".players (id) values ('c1')`);
  expect(await changes()).toEqual([{ op: 'insert', ids: ['c1'] }]);

  const remove = await cli(['capture', 'remove']);
  expect(remove.code).toBe(0);
  // A block per table, whose first line unregisters the app from it (the triggers go with the last app).
  const line = remove.stdout.split('\n').find((l) => l.startsWith('DO $strata_capture_remove$ BEGIN'));
  expect(line).toContain(`DELETE FROM "${name}"."_strata_capture_apps" WHERE "app" = `);
  expect(line).toContain(`ARRAY['${name}.players']`);
  await pool.query(`insert into "${name}".players (id) values ('c2')`);
  expect(await changes()).toHaveLength(1);
  expect((await pool.query(`select id from "${name}".players order by id`)).rows).toEqual([
    { id: 'c1' },
    { id: 'c2' },
  ]);
  expect((await cli(['capture', 'check'])).code).toBe(1);
  // Nine CLI processes, each a Node start-up: 13 s at load 7 on 2 cores, over the default 20 s in a loaded CI run.
}, 60_000);

it('refuses an unknown action as a usage error', async () => {
  const outcome = await cli(['capture', 'enable']);
  expect(outcome.code).toBe(2);
  expect(outcome.stderr).toMatch(/^strata: capture takes install, remove, check, not "enable"\n/);
});
