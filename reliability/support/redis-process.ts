import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@strata/devstack';

const READY = 'Ready to accept connections';
const START_TIMEOUT_MS = 5_000;

/**
 * A redis-server of the test's own, without persistence of its own accord (`--save ""`,
 * `--appendonly no`), in a directory of its own, on a port that stays the same across restarts so
 * clients reconnect to the new process. `save()` writes a snapshot (dump.rdb) there; `restart()`
 * starts a new process on the same port that loads that snapshot if there is one (`dropData` deletes
 * it first: a restart without data). Stopped by its PID (SIGKILL: nothing saved on the way out).
 * @example
 * const redis = await startRedisProcess();
 * await redis.restart({ dropData: true });
 * await redis.close();
 */
export interface RedisProcess {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** The PID of the running server. */
  readonly pid: number;
  /** Kills the server (SIGKILL by PID) and waits until it is gone. */
  kill(): Promise<void>;
  /** Kills the server and starts a new one on the same port and directory. */
  restart(options?: { dropData?: boolean }): Promise<void>;
  /** Kills the server and deletes its directory. */
  close(): Promise<void>;
}

/** `args`: more redis-server options, kept across restarts (e.g. `['--maxmemory', '8mb']`). */
export async function startRedisProcess(args: readonly string[] = []): Promise<RedisProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'strata-redis-'));
  let child = await launch(port, dir, args);
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    process.kill(child.pid!, 'SIGKILL');
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child.pid!;
    },
    kill,
    async restart({ dropData = false } = {}) {
      await kill();
      if (dropData) rmSync(join(dir, 'dump.rdb'), { force: true });
      child = await launch(port, dir, args);
    },
    async close() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts redis-server and resolves once it logs that it accepts connections (bounded). */
async function launch(port: number, dir: string, args: readonly string[]): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`redis-server on ${port} not ready within ${START_TIMEOUT_MS} ms: ${output}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!output.includes(READY)) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onData);
      resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on ${port} exited with ${code}: ${output}`));
    });
  });
  // Keep draining its output so the pipe never fills.
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}
