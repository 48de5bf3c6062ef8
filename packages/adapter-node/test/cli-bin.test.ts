import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { binPath, runCli } from './support/run-cli.js';

// npm links bins at install time, before any build, and skips a bin whose file is missing: the bin
// must be a committed file, which then runs the built CLI or says to build it.
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
let bin: string;
let scratchDir: string | undefined;

beforeAll(async () => {
  const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  bin = join(packageDir, manifest.bin.strata!);
});

afterAll(async () => {
  if (scratchDir) await rm(scratchDir, { recursive: true, force: true });
});

it('the strata bin is a committed file outside dist, the one the tests run', () => {
  const path = relative(packageDir, bin);
  expect(path.split(/[\\/]/)[0]).not.toBe('dist');
  expect(bin).toBe(binPath);
  // Throws (and fails the test) when git does not track the file.
  const tracked = execFileSync('git', ['ls-files', '--error-unmatch', path], {
    cwd: packageDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  expect(tracked.toString().trim()).toBe(path);
});

it('npm install linked it as node_modules/.bin/strata', async () => {
  const linked = join(repoRoot, 'node_modules', '.bin', 'strata');
  await expect(realpath(linked), `${linked}: run npm ci again`).resolves.toBe(await realpath(bin));
});

it('with dist built, the bin prints the help and exits 0', async () => {
  const help = await runCli(['--help'], { PATH: process.env.PATH }, { bin });
  expect(help).toMatchObject({ code: 0, stderr: '' });
  expect(help.stdout).toMatch(/^Usage: strata <command> \[options\]\n/);
  expect(help.stdout).toContain('migrate-from <dir>');
});

it('without dist, the bin says to build first in one line and exits 1', async () => {
  // The same launcher in a package directory that has no dist/ beside its bin/.
  scratchDir = await mkdtemp(join(tmpdir(), 'strata-bin-'));
  const copy = join(scratchDir, 'bin', 'strata.mjs');
  await mkdir(dirname(copy));
  await copyFile(bin, copy);
  const run = await runCli(['--help'], { PATH: process.env.PATH }, { bin: copy });
  expect(run.code).toBe(1);
  expect(run.stdout).toBe('');
  const missing = join(scratchDir, 'dist', 'cli.js');
  expect(run.stderr).toBe(`strata: not built yet (${missing} is missing): run npm run build first\n`);
});
