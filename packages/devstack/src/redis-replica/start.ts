import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../net.js';
import { stopGroup } from '../process-group.js';
import { RedisReplicaError } from './error.js';
import { waitForOffset } from './offsets.js';
import { type ReplicationRelay, startReplicationRelay } from './relay.js';
import { type RedisProcess, startRedisProcess } from './server.js';

export interface RedisReplicaOptions {
  /** Default 'redis-server'. */
  serverBinary?: string;
  /** The whole start, both servers to a replica in sync. Default 15 s. */
  startTimeoutMs?: number;
}

/** One server of the pair. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  pid: number;
}

export interface RedisReplica {
  primary: RedisServer;
  /** `redis-server --replicaof` the primary, through a relay a test can hold: read-only. */
  replica: RedisServer;
  /** The temp dir holding both servers' dirs; removed by stop(). */
  dir: string;
  /** How long the start took, both servers to a replica in sync (ms). */
  startedInMs: number;
  /**
   * Stops the replication stream on the wire (see `ReplicationRelay`): what the primary writes from
   * now on does not reach the replica until releaseReplication(), while the replica's link stays up.
   * Deterministic lag for tests, not a timed one.
   */
  holdReplication(): void;
  /** Lets the held stream through and resolves once the replica has caught up (see caughtUp). */
  releaseReplication(): Promise<void>;
  /**
   * Resolves once the replica has applied all the primary had written when this was called
   * (NOT_READY after `timeoutMs`, default 10 s): replication is asynchronous.
   */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** Stops the replica alone (SIGTERM, then SIGKILL), e.g. to test reads when it is down. */
  stopReplica(): Promise<void>;
  /** Stops both servers and the relay and removes the dirs. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a throwaway Redis primary and a replica of it on loopback, each a real `redis-server` on
 * a free port with a temp dir and no persistence, the replica's `--replicaof` pointing at a relay
 * in this process (so a test can hold replication), and resolves once the replica is in sync. It
 * never touches the machine's own Redis. Stops only what it started, by pid (each server is a
 * process group of its own), also when the start fails (RedisReplicaError) and when the test
 * process exits without calling stop().
 * @example
 * const pair = await startRedisReplica();
 * const primary = new Redis(pair.primary.url);
 * pair.holdReplication(); // writes to the primary are not on the replica until releaseReplication()
 * await pair.stop();
 */
export async function startRedisReplica(options: RedisReplicaOptions = {}): Promise<RedisReplica> {
  const started = Date.now();
  const deadline = started + (options.startTimeoutMs ?? 15_000);
  const left = () => Math.max(1, deadline - Date.now());
  const binary = options.serverBinary ?? 'redis-server';
  const root = await mkdtemp(join(tmpdir(), 'strata-redis-replica-'));
  const running: RedisProcess[] = [];
  let relay: ReplicationRelay | undefined;
  // Last resort for a test process that dies before stop(): no listener may be async at exit.
  const onExit = () => {
    for (const server of running) {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        // Already gone: nothing to stop.
      }
    }
  };
  process.once('exit', onExit);
  const stopOne = async (server: RedisProcess) => {
    await stopGroup(server.child, { graceMs: 5_000 });
    running.splice(running.indexOf(server), 1);
  };
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // The replica first: stopped after its primary, it would log reconnect attempts meanwhile.
      for (const server of [...running].reverse()) await stopOne(server);
      await relay?.close();
      process.off('exit', onExit);
      await rm(root, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    const primaryProcess = await startRedisProcess(binary, root, await freePort(), [], left());
    running.push(primaryProcess);
    relay = await startReplicationRelay(primaryProcess.port);
    const replicaProcess = await startRedisProcess(
      binary,
      root,
      await freePort(),
      ['--replicaof', '127.0.0.1', String(relay.port), '--replica-read-only', 'yes'],
      left(),
    );
    running.push(replicaProcess);
    const [primary, replica] = [primaryProcess, replicaProcess].map((s) => ({
      url: `redis://127.0.0.1:${s.port}`,
      port: s.port,
      pid: s.pid,
    })) as [RedisServer, RedisServer];
    const caughtUp = async (timeoutMs = 10_000) => {
      if (!(await waitForOffset(primary.port, replica.port, Date.now() + timeoutMs)))
        throw new RedisReplicaError('NOT_READY', `the replica did not catch up within ${timeoutMs} ms`);
    };
    if (!(await waitForOffset(primary.port, replica.port, deadline)))
      throw new RedisReplicaError('NOT_READY', 'the replica did not sync with its primary in time');
    const link = relay;
    return {
      primary,
      replica,
      dir: root,
      startedInMs: Date.now() - started,
      holdReplication: () => link.hold(),
      async releaseReplication() {
        link.release();
        await caughtUp();
      },
      caughtUp,
      async stopReplica() {
        if (running.includes(replicaProcess)) await stopOne(replicaProcess);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err instanceof RedisReplicaError
      ? err
      : new RedisReplicaError('NODE_FAILED', 'the primary/replica pair did not start', { cause: err });
  }
}
