import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnGroup, stopGroup, waitForLine } from '../process-group.js';
import { RedisReplicaError } from './error.js';

/** One `redis-server` of the pair, in a process group of its own (its pgid = its pid). */
export interface RedisProcess {
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** What it printed (its log goes to stdout): for the error when something goes wrong. */
  readonly output: string[];
}

/**
 * (Not `spawnRedisServer` of the embedded fallback: that one takes no extra flags, no dir, and is not
 * a process group of its own.)
 *
 * Starts `redis-server` on 127.0.0.1:`port` with its own dir under `root`, no persistence (throwaway
 * data) and `extra` flags, and resolves once it says it accepts connections.
 */
export async function startRedisProcess(
  binary: string,
  root: string,
  port: number,
  extra: string[],
  timeoutMs: number,
): Promise<RedisProcess> {
  const dir = join(root, `redis-${port}`);
  await mkdir(dir);
  // No diskless-sync delay: Redis waits 5 s by default for more replicas before the first full sync.
  // biome-ignore format: flag/value pairs read best side by side
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--dir', dir,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--repl-diskless-sync-delay', '0',
    ...extra,
  ];
  const child = spawnGroup(binary, args, { cwd: dir });
  const spawned = await once(child, 'spawn').then(
    () => undefined,
    (err: NodeJS.ErrnoException) => err,
  );
  if (spawned) {
    const code = spawned.code === 'ENOENT' ? 'BINARY_MISSING' : 'NODE_FAILED';
    throw new RedisReplicaError(code, `could not run ${binary}`, { cause: spawned });
  }
  const server: RedisProcess = { port, pid: child.pid!, child, output: [] };
  try {
    await waitForLine(child, child.stdout!, /Ready to accept connections/, timeoutMs, server.output);
  } catch (err) {
    await stopGroup(child, { graceMs: 1_000 });
    throw new RedisReplicaError('NODE_FAILED', `redis-server on port ${port} did not start`, { cause: err });
  }
  // Keep reading stderr too, or a chatty server could block on a full pipe.
  child.stderr?.on('data', (chunk: Buffer) => server.output.push(chunk.toString()));
  return server;
}
