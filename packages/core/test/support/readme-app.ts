/**
 * The README's Quick start as a newcomer runs it: a fresh folder outside the repository (`npm init -y`,
 * so `"type": "commonjs"` unless the README's own lines change it), the ```ts quickstart block saved as
 * quickstart.ts, then the lines of the section's ```sh block, in a shell, in that folder. The built
 * packages are linked in (the folder's node_modules is the repository's), not installed from a registry.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CommandOutcome, spawnGroup, stopGroup, waitForLine } from '@strata/devstack';

export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** What the quick start needs built: the folder imports the packages' dist, as an app would. */
const NEEDED = ['packages/core/dist/index.js', 'packages/devstack/dist/cli.js'];

function quickStartSection(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = /^## Quick start\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## Quick start" section');
  return section;
}

/** The ```ts quickstart block of the README. */
export function quickstartSource(): string {
  const block = /```ts quickstart\n([\s\S]*?)```/.exec(quickStartSection())?.[1];
  if (!block) throw new Error('README.md has no ```ts quickstart block in its Quick start');
  return block;
}

/** The commands of the Quick start's ```sh block, comments dropped and `<strata>` the repository. */
export function quickstartCommands(): string[] {
  const block = /```sh\n([\s\S]*?)```/.exec(quickStartSection())?.[1];
  if (!block) throw new Error('README.md has no ```sh block in its Quick start');
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#\s.*$/, '').replaceAll('<strata>', repoRoot.replace(/\/$/, '')))
    .filter((line) => line.trim() !== '');
}

/** A fresh `npm init -y` folder with the repository's packages linked and quickstart.ts written. */
export async function newcomerFolder(env: NodeJS.ProcessEnv): Promise<string> {
  const missing = NEEDED.filter((path) => !existsSync(join(repoRoot, path)));
  if (missing.length > 0) throw new Error(`not built: ${missing.join(', ')}. Run \`npm run build\` first.`);
  const dir = mkdtempSync(join(tmpdir(), 'strata-quickstart-'));
  try {
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const init = await runBounded('npm init -y', dir, env, 30_000);
    if (init.code !== 0) throw new Error(`npm init -y exited ${init.code}:\n${init.stderr}`);
    writeFileSync(join(dir, 'quickstart.ts'), quickstartSource());
    return dir;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function collect(child: ChildProcess): { stdout: string; stderr: string } {
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    out.stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out.stderr += chunk.toString();
  });
  return out;
}

/** `script` in bash -e, in a process group of its own that is stopped (by its pid) after `timeoutMs`. */
export async function runBounded(
  script: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<CommandOutcome & { timedOut: boolean }> {
  const child = spawnGroup('bash', ['-ec', script], { cwd, env });
  const out = collect(child);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stopGroup(child, { graceMs: 2_000 });
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode) => resolve(exitCode));
  });
  clearTimeout(timer);
  return { code, ...out, timedOut };
}

/**
 * Runs `commands` in `dir` as the README's two terminals do: the devstack line keeps running (in a
 * process group of its own) while the lines after it run in one shell, bounded by `timeoutMs`.
 * Whatever ran is stopped before this returns.
 */
export async function runQuickstart(
  dir: string,
  commands: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<CommandOutcome & { timedOut: boolean }> {
  const at = commands.findIndex((line) => line.includes('devstack/dist/cli.js'));
  if (at < 0) throw new Error(`the Quick start's commands start no devstack:\n${commands.join('\n')}`);
  const before = commands.slice(0, at).join('\n');
  if (before) {
    const setup = await runBounded(before, dir, env, 30_000);
    if (setup.code !== 0) return setup;
  }
  const devstack = spawnGroup('bash', ['-ec', commands[at]!], { cwd: dir, env });
  try {
    const lines: string[] = [];
    await waitForLine(devstack, devstack.stderr!, /^devstack: ready/, 30_000, lines);
    return await runBounded(commands.slice(at + 1).join('\n'), dir, env, timeoutMs);
  } finally {
    await stopGroup(devstack, { graceMs: 5_000 });
  }
}
