import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built `strata` command (npm test builds before vitest runs). */
export const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** The `strata` bin as npm links it: the committed launcher, which imports the built command. */
export const binPath = fileURLToPath(new URL('../../bin/strata.mjs', import.meta.url));

export interface CliOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the `strata` bin as a user would, with exactly `env` as its environment (and `cwd`, default
 * this process's), and collects what it printed.
 * @example const { code, stdout } = await runCli(['stats', '-c', config], { DATABASE_URL });
 */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string; bin?: string } = {},
): Promise<CliOutcome> {
  const proc = spawn(process.execPath, [options.bin ?? binPath, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  proc.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
