import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stopGroup } from '../process-group.js';
import { waitForAgreement } from './agreement.js';
import { RedisClusterError } from './error.js';
import { type ClusterNodeProcess, killNode, startClusterNode } from './node.js';

const run = promisify(execFile);

export interface RedisClusterOptions {
  /** Default 3; each gets one replica, so 2 × masters processes. */
  masters?: number;
  /** Default 'redis-server'. */
  serverBinary?: string;
  /** Default 'redis-cli'. */
  cliBinary?: string;
  /** The whole start, nodes to an agreed cluster. Default 20 s. */
  startTimeoutMs?: number;
  /** `cluster-node-timeout`. Default 1 s, so a failover takes about a second or two (Redis: 15 s). */
  nodeTimeoutMs?: number;
}

/** One node as it was when the cluster became ready (roles change after a failover). */
export interface RedisClusterNode {
  host: string;
  port: number;
  pid: number;
  role: 'master' | 'replica';
}

export interface RedisCluster {
  nodes: RedisClusterNode[];
  /** The temp dir holding every node's dir (data, AOF, nodes.conf); removed by stop(). */
  dir: string;
  /** How long the start took, nodes to an agreed cluster (ms). */
  startedInMs: number;
  /** Stops every node still running (SIGTERM, then SIGKILL) and removes the temp dirs. Idempotent. */
  stop(): Promise<void>;
  /** Stops one node by its port; SIGKILL (default) is a crash, SIGTERM a clean shutdown. */
  stopNode(port: number, signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
}

/**
 * Starts a throwaway Redis Cluster on loopback: `2 × masters` real `redis-server` processes (AOF on,
 * a temp dir each), joined by `redis-cli --cluster create --cluster-replicas 1`, and resolves once
 * every node says `cluster_state:ok`, holds the same slot map and every replica is synced. Stops only
 * what it started, by pid (each node is a process group of its own), also when the start fails
 * (RedisClusterError) and when the test process exits without calling stop().
 * @example
 * const cluster = await startRedisCluster();
 * const client = new Cluster(cluster.nodes.map(({ host, port }) => ({ host, port })));
 * await cluster.stop();
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const started = Date.now();
  const deadline = started + (options.startTimeoutMs ?? 20_000);
  const masters = options.masters ?? 3;
  const root = await mkdtemp(join(tmpdir(), 'strata-redis-cluster-'));
  const running: ClusterNodeProcess[] = [];
  // Last resort for a test process that dies before stop(): no listener may be async at exit.
  const onExit = () => {
    for (const node of running) {
      try {
        process.kill(-node.pid, 'SIGKILL');
      } catch {
        // Already gone: nothing to stop.
      }
    }
  };
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all(running.map((node) => stopGroup(node.child, { graceMs: 5_000 })));
      running.length = 0;
      process.off('exit', onExit);
      await rm(root, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    const settings = {
      binary: options.serverBinary ?? 'redis-server',
      root,
      nodeTimeoutMs: options.nodeTimeoutMs ?? 1_000,
      startTimeoutMs: Math.max(1, deadline - Date.now()),
    };
    // allSettled: every node that did start is in `running` before a failure is thrown (and stopped).
    const outcomes = await Promise.allSettled(
      Array.from({ length: masters * 2 }, async () => {
        const node = await startClusterNode(settings);
        running.push(node);
        return node;
      }),
    );
    const failed = outcomes.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    const nodes = [...running];
    await createCluster(options.cliBinary ?? 'redis-cli', nodes, deadline);
    const views = await waitForAgreement(
      nodes.map((node) => node.port),
      masters,
      deadline,
    );
    return {
      nodes: nodes.map((node) => ({
        host: '127.0.0.1',
        port: node.port,
        pid: node.pid,
        role: views.find((view) => view.port === node.port)!.role,
      })),
      dir: root,
      startedInMs: Date.now() - started,
      stop,
      async stopNode(port, signal = 'SIGKILL') {
        const node = running.find((n) => n.port === port);
        if (node === undefined) throw new RedisClusterError('NODE_FAILED', `no running node on port ${port}`);
        await killNode(node, signal);
        running.splice(running.indexOf(node), 1);
      },
    };
  } catch (err) {
    const pids = running.map((node) => node.pid);
    await stop();
    const error =
      err instanceof RedisClusterError
        ? err
        : new RedisClusterError('NODE_FAILED', 'the cluster did not start', { cause: err });
    error.pids = pids;
    throw error;
  }
}

/** `redis-cli --cluster create`, bounded by what is left of the start's time. */
async function createCluster(cli: string, nodes: ClusterNodeProcess[], deadline: number): Promise<void> {
  const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
  const args = ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'];
  try {
    await run(cli, args, { timeout: Math.max(1, deadline - Date.now()), killSignal: 'SIGKILL' });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string; killed?: boolean };
    if (e.code === 'ENOENT')
      throw new RedisClusterError('BINARY_MISSING', `could not run ${cli}`, { cause: err });
    const why = e.killed ? 'did not finish in time' : 'failed';
    const printed = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-10).join('\n');
    throw new RedisClusterError('CREATE_FAILED', `${cli} --cluster create ${why}:\n${printed}`, {
      cause: err,
    });
  }
}
