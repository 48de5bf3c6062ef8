/**
 * Child processes of a test or a dev script, started in process groups of their own and stopped by
 * their own pids: `npx wrangler dev` leaves wrangler and workerd children that only the group reaches.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** `command args` in a new process group (its id is the child's pid), output piped. */
export function spawnGroup(command: string, args: string[], options: SpawnOptions): ChildProcess {
  return spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options, detached: true });
}

/**
 * Resolves when a line of `stream` matches `pattern`; rejects when the process exits first or after
 * `timeoutMs`, with what it printed so far.
 */
export function waitForLine(
  child: ChildProcess,
  stream: Readable,
  pattern: RegExp,
  timeoutMs: number,
  output: string[],
): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`${why}; output so far:\n${output.join('\n')}`));
    const timer = setTimeout(() => fail(`no line matching ${pattern} within ${timeoutMs} ms`), timeoutMs);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      fail(`the process exited (${code}) before printing ${pattern}`);
    };
    child.once('exit', onExit);
    createInterface({ input: stream }).on('line', (line) => {
      output.push(line);
      if (!pattern.test(line)) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve(line);
    });
  });
}

/** True while any process of the group `pgid` exists (EPERM: it exists, owned by someone else). */
export function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * SIGTERM to the child's whole group, SIGKILL to what is left after `graceMs`; resolves once it is
 * gone. `onKill` hears when SIGTERM was not enough.
 * @example await stopGroup(spawnGroup('npx', ['wrangler', 'dev'], { cwd }));
 */
export async function stopGroup(
  child: ChildProcess,
  { graceMs = 10_000, onKill }: { graceMs?: number; onKill?: (pgid: number) => void } = {},
): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined || !processGroupAlive(pgid)) return;
  const running = child.exitCode === null && child.signalCode === null;
  const exited = running ? once(child, 'exit') : Promise.resolve();
  process.kill(-pgid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  // The group's grandchildren (workerd) have no event to await: look until they are gone.
  const deadline = Date.now() + graceMs;
  while (processGroupAlive(pgid) && Date.now() < deadline) await pause(100);
  if (processGroupAlive(pgid)) {
    onKill?.(pgid);
    process.kill(-pgid, 'SIGKILL');
  }
  while (processGroupAlive(pgid)) await pause(50);
}
