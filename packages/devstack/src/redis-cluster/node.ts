import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../net.js';
import { processGroupAlive, spawnGroup, waitForLine } from '../process-group.js';
import { RedisClusterError } from './error.js';

/** One `redis-server` of a throwaway cluster, in a process group of its own (its pgid = its pid). */
export interface ClusterNodeProcess {
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** What it printed (its log goes to stdout): for the error when something goes wrong. */
  readonly output: string[];
}

export interface NodeSettings {
  binary: string;
  /** The cluster's temp dir: the node gets `node-<port>` under it. */
  root: string;
  /** `cluster-node-timeout`: how long a master may be unreachable before its replica takes over. */
  nodeTimeoutMs: number;
  startTimeoutMs: number;
  /** Where ports come from (tests hand out a taken one). Default: one free a moment ago. */
  freePort?: () => Promise<number>;
}

/** Starts with fresh ports after a bind failure this many times. */
const PORT_TRIES = 5;

/**
 * Starts one cluster-enabled node on a free loopback port. The cluster bus port is a second free
 * port (`cluster-port`), not the default port + 10000, which can be above 65535 for an ephemeral
 * port. Resolves once the node says it accepts connections.
 *
 * A port found free can be taken before the node binds it (another test process starting a
 * cluster, or this one's other nodes): a node that fails with "Address already in use" is started
 * again on new ports.
 */
export async function startClusterNode(settings: NodeSettings): Promise<ClusterNodeProcess> {
  for (let tries = 1; ; tries++) {
    try {
      return await startOnFreePorts(settings);
    } catch (err) {
      const cause = err instanceof RedisClusterError ? err.cause : undefined;
      const portTaken = cause instanceof Error && cause.message.includes('Address already in use');
      if (tries === PORT_TRIES || !portTaken) throw err;
    }
  }
}

async function startOnFreePorts(settings: NodeSettings): Promise<ClusterNodeProcess> {
  const pick = settings.freePort ?? freePort;
  const port = await pick();
  const busPort = await pick();
  const dir = join(settings.root, `node-${port}`);
  // A failed try may have left this dir (the same port found free again): start it clean.
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  // appendonly + everysec: what a deployment of the Redis Stream write queue needs (it refuses a
  // Redis without AOF); `--save ''`: no RDB snapshots on top of it. No diskless-sync delay: Redis
  // waits 5 s by default for more replicas before the first full sync, all of it in the start time.
  // biome-ignore format: flag/value pairs read best side by side
  const args = [
    '--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1',
    '--protected-mode', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
    '--cluster-node-timeout', String(settings.nodeTimeoutMs), '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--daemonize', 'no',
    '--repl-diskless-sync-delay', '0',
  ];
  const child = spawnGroup(settings.binary, args, { cwd: dir });
  const spawned = await once(child, 'spawn').then(
    () => undefined,
    (err: NodeJS.ErrnoException) => err,
  );
  if (spawned) {
    const code = spawned.code === 'ENOENT' ? 'BINARY_MISSING' : 'NODE_FAILED';
    throw new RedisClusterError(code, `could not run ${settings.binary}`, { cause: spawned });
  }
  const node: ClusterNodeProcess = { port, pid: child.pid!, child, output: [] };
  try {
    await waitForLine(
      child,
      child.stdout!,
      /Ready to accept connections/,
      settings.startTimeoutMs,
      node.output,
    );
  } catch (err) {
    await killNode(node, 'SIGKILL');
    throw new RedisClusterError('NODE_FAILED', `redis-server on port ${port} did not start`, { cause: err });
  }
  // Keep reading stderr too, or a chatty node could block on a full pipe.
  child.stderr?.on('data', (chunk: Buffer) => node.output.push(chunk.toString()));
  return node;
}

/** Sends `signal` to the node's own group (nothing else) and resolves once the group is gone. */
export async function killNode(node: ClusterNodeProcess, signal: NodeJS.Signals): Promise<void> {
  const { child, pid } = node;
  if (!processGroupAlive(pid)) return;
  const running = child.exitCode === null && child.signalCode === null;
  const exited = running ? once(child, 'exit') : Promise.resolve();
  process.kill(-pid, signal);
  await exited;
  // An AOF rewrite child, if one was running, is in the same group: wait for the group, not the pid.
  const deadline = Date.now() + 5_000;
  while (processGroupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (processGroupAlive(pid)) process.kill(-pid, 'SIGKILL');
}
