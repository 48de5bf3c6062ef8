import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { canConnect, freePort } from '../net.js';
import type { Stoppable } from '../types.js';

export interface SpawnedRedis extends Stoppable {
  url: string;
  pid: number;
}

export class RedisBinaryMissingError extends Error {
  override name = 'RedisBinaryMissingError';
}

/**
 * Starts a throwaway `redis-server` on a free loopback port (nothing persisted), for machines where
 * no Redis is reachable. Rejects with `RedisBinaryMissingError` when the binary is not installed: the
 * caller then reports L2 as unavailable rather than faking Redis.
 * @example const redis = await spawnRedisServer(); // redis.url -> redis://127.0.0.1:41234
 */
export async function spawnRedisServer(
  binary = 'redis-server',
  startTimeoutMs = 5_000,
): Promise<SpawnedRedis> {
  const port = await freePort();
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const spawnError = once(child, 'spawn').then(
    () => undefined,
    (err: NodeJS.ErrnoException) => err,
  );
  const err = await spawnError;
  if (err) {
    throw err.code === 'ENOENT' ? new RedisBinaryMissingError(`${binary} is not installed`) : err;
  }
  await waitForPort(child, port, startTimeoutMs);
  const pid = child.pid!;
  return {
    url: `redis://127.0.0.1:${port}`,
    pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function waitForPort(child: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`redis-server exited with ${child.exitCode}: ${stderr.trim()}`);
    if (await canConnect('127.0.0.1', port, 200)) return;
    // Polling a port has no event to await; the wait is bounded by the deadline.
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not accept connections on port ${port} within ${timeoutMs} ms`);
}
