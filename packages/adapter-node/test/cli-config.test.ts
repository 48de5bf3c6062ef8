import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { type CliOutcome, runCli } from './support/run-cli.js';
import { scratch } from './support/scratch.js';

// How the CLI finds and loads its config: TypeScript too, and every failure names the file.
const tsConfigDir = fileURLToPath(new URL('./fixtures/ts-config/', import.meta.url));
const withoutEsbuild = pathToFileURL(
  fileURLToPath(new URL('./fixtures/without-esbuild.mjs', import.meta.url)),
);
const space = scratch('cli_config');
const dirs: string[] = [];

afterAll(async () => {
  await space.cleanup();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

function cli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliOutcome> {
  return runCli(
    args,
    { PATH: process.env.PATH, DATABASE_URL: space.databaseUrl, STRATA_CLI_TEST_NAME: space.name, ...env },
    { cwd },
  );
}

/** A temporary directory holding `files`. */
async function directory(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${space.name}-`));
  dirs.push(dir);
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

it('loads strata.config.ts from the working directory (with its .ts imports) and leaves no file behind', async () => {
  const before = await readdir(tsConfigDir);
  const migrate = await cli(['migrate'], tsConfigDir);
  expect(migrate).toMatchObject({ code: 0, stderr: '' });
  expect(migrate.stdout).toContain(`CREATE TABLE IF NOT EXISTS "${space.name}"."players"`);
  const { rows } = await space.pool.query(
    'select table_name from information_schema.tables where table_schema = $1 order by 1',
    [space.name],
  );
  expect(rows.map((row: { table_name: string }) => row.table_name)).toContain('players');
  expect(await readdir(tsConfigDir)).toEqual(before);
});

it('a TypeScript config without esbuild installed: one line naming the file and the way out, exit 1', async () => {
  const run = await cli(['status'], tsConfigDir, { NODE_OPTIONS: `--import=${withoutEsbuild.href}` });
  expect(run).toMatchObject({ code: 1, stdout: '' });
  expect(run.stderr).toBe(
    `strata: ${join(tsConfigDir, 'strata.config.ts')} is TypeScript, which strata loads with esbuild: ` +
      'install it (npm install --save-dev esbuild) or write strata.config.mjs\n',
  );
});

it('a syntax error names the config file, line and column (TypeScript and JavaScript)', async () => {
  const ts = await directory({
    'strata.config.ts': 'const x: number = 1;\nexport default { schemas: [], keyPrefix: x oops };\n',
  });
  const tsRun = await cli(['migrate'], ts);
  expect(tsRun).toMatchObject({ code: 1, stdout: '' });
  expect(tsRun.stderr).toBe(
    `strata: config ${join(ts, 'strata.config.ts')}:2:44: Expected "}" but found "oops"\n`,
  );
  expect(await readdir(ts)).toEqual(['strata.config.ts']);

  const js = await directory({
    'broken.mjs': 'export default {\n  schemas: [],\n  keyPrefix: "x" oops\n};\n',
  });
  const jsRun = await cli(['status', '--config', 'broken.mjs'], js);
  expect(jsRun).toMatchObject({ code: 1, stdout: '' });
  expect(jsRun.stderr).toBe(
    `strata: config ${join(js, 'broken.mjs')}:3:18: SyntaxError: Unexpected identifier 'oops'\n`,
  );
});

it('a config that throws while loading is named too', async () => {
  const dir = await directory({ 'strata.config.mjs': "throw new Error('no secrets file');\n" });
  const run = await cli(['status'], dir);
  expect(run).toMatchObject({ code: 1, stdout: '' });
  expect(run.stderr).toBe(`strata: cannot load config ${join(dir, 'strata.config.mjs')}: no secrets file\n`);
});

it('migrate without schemas fails, saying which config files were looked for or which had none', async () => {
  const empty = await directory({});
  const none = await cli(['migrate'], empty);
  expect(none).toMatchObject({ code: 1, stdout: '' });
  expect(none.stderr).toBe(
    'strata: migrate: no schemas, no config file found (looked for strata.config.ts, strata.config.mts, ' +
      `strata.config.mjs, strata.config.js in ${empty}): pass --config <file>\n`,
  );

  const dir = await directory({ 'strata.config.mjs': 'export default { schemas: [] };\n' });
  const noSchemas = await cli(['migrate'], dir);
  expect(noSchemas).toMatchObject({ code: 1, stdout: '' });
  expect(noSchemas.stderr).toBe(
    `strata: ${join(dir, 'strata.config.mjs')} has no schemas: migrate needs export default { schemas: [defineSchema(...)] }\n`,
  );
});

it('two default config files are refused rather than one picked silently', async () => {
  const dir = await directory({
    'strata.config.ts': 'export default { schemas: [] };\n',
    'strata.config.mjs': 'export default { schemas: [] };\n',
  });
  const run = await cli(['status'], dir);
  expect(run).toMatchObject({ code: 1, stdout: '' });
  expect(run.stderr).toBe(
    `strata: several config files in ${dir} (strata.config.ts, strata.config.mjs): pass --config <file>\n`,
  );
});
