import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processGroupAlive, spawnGroup, waitForLine } from '@strata/devstack';
import { afterAll, expect, it } from 'vitest';

// The root's `npm start` script as npm runs it (`sh -c "<script>"`): a SIGINT to npm's pid (a process
// manager, a script, `kill -INT`) reaches only npm, which forwards it to that shell. A shell waiting
// for its last command does not pass it on: scripts/start.mjs never heard it, and the demo, wrangler
// and the devstack ran on. Here the script runs as written, with stand-ins for what it calls: a
// `turbo` on the PATH npm gives scripts (node_modules/.bin) that builds nothing, and a
// scripts/start.mjs that says what it received.
const root = fileURLToPath(new URL('..', import.meta.url));
const startScript: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start;
const dir = mkdtempSync(join(tmpdir(), 'strata-start-signal-'));
let npmGroup: number | undefined;

afterAll(() => {
  // Only when the test failed: what it started is still running, in the group of npm's pid.
  if (npmGroup !== undefined && processGroupAlive(npmGroup)) process.kill(-npmGroup, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it('a SIGINT to the pid of `npm start` reaches scripts/start.mjs', async () => {
  expect(startScript).toContain('node scripts/start.mjs');
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'start-signal', private: true, scripts: { start: startScript } }),
  );
  mkdirSync(join(dir, 'node_modules/.bin'), { recursive: true });
  writeFileSync(join(dir, 'node_modules/.bin/turbo'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(dir, 'node_modules/.bin/turbo'), 0o755);
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(
    join(dir, 'scripts/start.mjs'),
    [
      "process.on('SIGINT', () => { console.log('start.mjs: SIGINT'); process.exit(0); });",
      "console.log('start.mjs: up');",
      'setInterval(() => {}, 60_000);',
    ].join('\n'),
  );

  const npm = spawnGroup('npm', ['start'], {
    cwd: dir,
    env: { ...process.env, npm_config_loglevel: 'silent' },
  });
  npmGroup = npm.pid;
  const output: string[] = [];
  await waitForLine(npm, npm.stdout!, /^start\.mjs: up$/, 20_000, output);
  const exited = once(npm, 'exit');
  const saw = waitForLine(npm, npm.stdout!, /^start\.mjs: SIGINT$/, 10_000, output);
  npm.kill('SIGINT'); // npm's pid only, not its group: what `kill -INT <pid>` does
  await saw;
  const [code] = await exited;
  expect(code).toBe(0);
  expect(processGroupAlive(npmGroup!)).toBe(false);
}, 40_000);
