import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect, freePort } from '@strata/devstack';

/**
 * A redis-server of the test's own, with every write in its append-only file before the reply
 * (`--appendonly yes --appendfsync always`): a SIGKILL loses nothing, so a restart on the same
 * directory and port is the "Redis restarted" fault without data loss, and `wipe` (while stopped)
 * is the "Redis lost its data" fault. Always stopped by its PID, never by name.
 * @example
 * const redis = await startAofRedis();
 * await redis.kill(); await redis.start(); // restarted, same data
 * await redis.kill(); redis.wipe(); await redis.start(); // restarted empty
 * await redis.stop();
 */
export interface AofRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** PID of the running server (0 while stopped). */
  readonly pid: number;
  /** SIGKILL by PID; resolves once the process has exited. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and directory (it replays its AOF). */
  start(): Promise<void>;
  /** Deletes the AOF directory (and any RDB) while the server is stopped. */
  wipe(): void;
  /** Kills the server and deletes its directory. */
  stop(): Promise<void>;
}

export async function startAofRedis(binary = 'redis-server', startTimeoutMs = 10_000): Promise<AofRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'strata-model-redis-'));
  let child: ChildProcess | undefined;

  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null)
      throw new Error('redis-server is running');
    const c = spawn(
      binary,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--protected-mode',
        'no',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    c.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const spawnError = await once(c, 'spawn').then(
      () => undefined,
      (err: unknown) => err,
    );
    if (spawnError) throw spawnError;
    child = c;
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (c.exitCode !== null) throw new Error(`redis-server exited with ${c.exitCode}: ${stderr.trim()}`);
      if (await canConnect('127.0.0.1', port, 200)) return;
      // A port has no event to await; bounded by the deadline.
      await new Promise((r) => setTimeout(r, 20));
    }
    c.kill('SIGKILL');
    throw new Error(`redis-server did not listen on ${port} within ${startTimeoutMs} ms`);
  };

  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    process.kill(c.pid!, 'SIGKILL');
    await exited;
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child && child.exitCode === null && child.signalCode === null ? child.pid! : 0;
    },
    kill,
    start,
    wipe() {
      if (child && child.exitCode === null && child.signalCode === null)
        throw new Error('wipe() needs the server stopped');
      rmSync(join(dir, 'appendonlydir'), { recursive: true, force: true });
      rmSync(join(dir, 'dump.rdb'), { force: true });
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
