import { type ChildProcess, execFile } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { processGroupAlive, spawnGroup, waitForLine } from '../process-group.js';
import { PostgresReplicaError } from './error.js';
import type { RunAs } from './run-as.js';

const run = promisify(execFile);

/** One `postgres` server of the pair, in a process group of its own (its pgid = its pid). */
export interface ServerProcess {
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** What it logged (stderr): for the error when something goes wrong. */
  readonly output: string[];
}

/**
 * Settings both servers run with, as flags (the replica's copied postgresql.conf is left as initdb
 * wrote it). Loopback TCP only, no Unix socket (nothing lands in /var/run/postgresql, where the
 * machine's own Postgres keeps its socket); fsync off: throwaway data, faster start and writes.
 */
// biome-ignore format: flag/value pairs read best side by side
const SETTINGS = [
  'listen_addresses=127.0.0.1', 'unix_socket_directories=', 'wal_level=replica', 'max_wal_senders=4',
  'hot_standby=on', 'fsync=off', 'full_page_writes=off', 'shared_buffers=16MB', 'max_connections=40',
  'wal_receiver_status_interval=1s',
];

/** Runs one of the binaries as `user`, bounded in time; its output goes into the error when it fails. */
export async function runBinary(
  binDir: string,
  name: string,
  args: string[],
  user: RunAs,
  timeoutMs: number,
): Promise<void> {
  try {
    await run(join(binDir, name), args, {
      ...user,
      timeout: Math.max(1, timeoutMs),
      killSignal: 'SIGKILL',
      env: { ...process.env, LC_ALL: 'C' },
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; killed?: boolean };
    const printed = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-10).join('\n');
    throw new PostgresReplicaError(
      'INIT_FAILED',
      `${name} ${e.killed ? 'timed out' : 'failed'}:\n${printed}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Starts `postgres -D dataDir` on `port` and resolves once it accepts connections (a standby says
 * "read-only connections"). Postgres logs to stderr, which is read to the end so it never blocks.
 */
export async function startServer(
  binDir: string,
  dataDir: string,
  port: number,
  user: RunAs,
  timeoutMs: number,
): Promise<ServerProcess> {
  const args = ['-D', dataDir, '-p', String(port), ...SETTINGS.flatMap((s) => ['-c', s])];
  const child = spawnGroup(join(binDir, 'postgres'), args, { ...user, env: { ...process.env, LC_ALL: 'C' } });
  const spawned = await once(child, 'spawn').then(
    () => undefined,
    (err: Error) => err,
  );
  if (spawned) throw new PostgresReplicaError('NODE_FAILED', `could not run postgres`, { cause: spawned });
  const server: ServerProcess = { port, pid: child.pid!, child, output: [] };
  child.stdout?.on('data', (chunk: Buffer) => server.output.push(chunk.toString()));
  try {
    await waitForLine(
      child,
      child.stderr!,
      /ready to accept (read-only )?connections/,
      timeoutMs,
      server.output,
    );
  } catch (err) {
    await stopServer(server, 'SIGKILL');
    throw new PostgresReplicaError('NODE_FAILED', `postgres on port ${port} did not start`, { cause: err });
  }
  return server;
}

/**
 * Stops the server's own group: SIGINT (Postgres' fast shutdown: it does not wait for clients to
 * leave, as SIGTERM's smart one does), SIGKILL after `graceMs`. Resolves once the group is gone.
 */
export async function stopServer(
  server: ServerProcess,
  signal: 'SIGINT' | 'SIGKILL' = 'SIGINT',
  graceMs = 10_000,
): Promise<void> {
  const { child, pid } = server;
  if (!processGroupAlive(pid)) return;
  const running = child.exitCode === null && child.signalCode === null;
  const exited = running ? once(child, 'exit') : Promise.resolve();
  process.kill(pid, signal);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  // Backends and the WAL sender are the postmaster's children, in its group: wait for all of them.
  const deadline = Date.now() + graceMs;
  while (processGroupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (processGroupAlive(pid)) process.kill(-pid, 'SIGKILL');
  while (processGroupAlive(pid)) await new Promise((r) => setTimeout(r, 20));
}
