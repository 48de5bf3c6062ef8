import { fileURLToPath } from 'node:url';
import { type CommandOutcome, runCommand } from '@strata/devstack';

/** The built `strata` command (npm test builds before vitest runs). */
export const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** The `strata` bin as npm links it: the committed launcher, which imports the built command. */
export const binPath = fileURLToPath(new URL('../../bin/strata.mjs', import.meta.url));

export type { CommandOutcome as CliOutcome } from '@strata/devstack';

/**
 * Runs the `strata` bin as a user would, with exactly `env` as its environment (and `cwd`, default
 * this process's), and collects what it printed.
 * @example const { code, stdout } = await runCli(['stats', '-c', config], { DATABASE_URL });
 */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string; bin?: string } = {},
): Promise<CommandOutcome> {
  return runCommand(process.execPath, [options.bin ?? binPath, ...args], { env, cwd: options.cwd });
}
