import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CommandOutcome, runCommand } from '@strata/devstack';
import { repoRoot, type WorkspacePackage } from './workspace-packages.js';

export type RunOutcome = CommandOutcome;

/** Runs a command to its end and collects what it printed; never throws for a non-zero exit. */
export const run = (command: string, args: readonly string[], cwd: string): Promise<RunOutcome> =>
  runCommand(command, args, { cwd });

/** Like run, but a non-zero exit is an error that carries the output. */
export async function runOk(command: string, args: readonly string[], cwd: string): Promise<RunOutcome> {
  const outcome = await run(command, args, cwd);
  if (outcome.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${outcome.code}:\n${outcome.stdout}${outcome.stderr}`,
    );
  }
  return outcome;
}

export interface PackedPackage {
  name: string;
  /** Absolute path of the .tgz. */
  tarball: string;
  /** Paths inside the tarball, as `npm pack` lists them. */
  files: string[];
}

/** `npm pack` of the given workspaces into `dest`, as publishing would pack them. */
export async function pack(packages: readonly WorkspacePackage[], dest: string): Promise<PackedPackage[]> {
  const workspaces = packages.flatMap((pkg) => ['-w', pkg.name]);
  const { stdout } = await runOk(
    'npm',
    ['pack', ...workspaces, '--pack-destination', dest, '--json'],
    repoRoot,
  );
  const packed = JSON.parse(stdout) as { name: string; filename: string; files: { path: string }[] }[];
  return packed.map((entry) => ({
    name: entry.name,
    tarball: join(dest, entry.filename),
    files: entry.files.map((file) => file.path).sort(),
  }));
}

/**
 * What a user installs beside the packages: the peers the entries' types and the smoke script
 * need, at the versions this repo tests with (so the install comes from the npm cache).
 */
const CONSUMER_DEPENDENCIES = [
  'drizzle-orm',
  '@upstash/redis',
  '@neondatabase/serverless',
  'hono',
  '@electric-sql/pglite',
  '@types/node',
  '@opentelemetry/api',
];

async function repoVersion(name: string): Promise<string> {
  const manifest = join(repoRoot, 'node_modules', name, 'package.json');
  return (JSON.parse(await readFile(manifest, 'utf8')) as { version: string }).version;
}

/** A fresh ESM project outside the repo with the tarballs (and their peers) installed from them. */
export async function createConsumer(tarballs: readonly string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-consumer-'));
  const manifest = { name: 'strata-consumer', private: true, type: 'module' };
  await writeFile(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const peers = await Promise.all(
    CONSUMER_DEPENDENCIES.map(async (name) => `${name}@${await repoVersion(name)}`),
  );
  await runOk('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs, ...peers], dir);
  return dir;
}
