import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/** A redis-server this test started: stopped only through its own PID. */
export interface OwnRedis {
  readonly url: string;
  readonly pid: number;
  /** SIGKILL, as a crash or an OOM kill would end it: no shutdown save, no AOF rewrite. */
  kill(): Promise<void>;
}

const started = new Set<ChildProcess>();

/**
 * Starts `redis-server` on 127.0.0.1:`port` with its files in `dir` and the given persistence
 * `args`, and resolves once it logs that it accepts connections (after loading its AOF or RDB, so a
 * restart on the same dir and port is ready with what survived).
 * @example const redis = await startOwnRedis(dir, port, ['--appendonly', 'yes']);
 */
export async function startOwnRedis(dir: string, port: number, args: readonly string[]): Promise<OwnRedis> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--logfile',
      '',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  started.add(child);
  let log = '';
  const collect = (chunk: Buffer) => {
    log += chunk.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  await new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (!log.includes('Ready to accept connections')) return;
      child.stdout!.off('data', onData);
      resolve();
    };
    child.stdout!.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(
        new Error(`redis-server on port ${port} exited (${code ?? signal}) before it was ready:\n${log}`),
      ),
    );
  });
  // Its log is no longer needed, but the pipe must keep draining or redis-server would block on it.
  child.stdout!.off('data', collect);
  child.stderr!.off('data', collect);
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    kill: () => killChild(child),
  };
}

/** Every redis-server `startOwnRedis` started and that still runs, killed by its PID (for afterAll). */
export async function killOwnRedisServers(): Promise<void> {
  await Promise.all([...started].map(killChild));
}

async function killChild(child: ChildProcess): Promise<void> {
  started.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  process.kill(child.pid!, 'SIGKILL');
  await exited;
}
