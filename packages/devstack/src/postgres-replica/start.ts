import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../net.js';
import { serverBinDir } from './binaries.js';
import { PostgresReplicaError } from './error.js';
import { connect, waitForReplay } from './replay.js';
import { handOver, runAs } from './run-as.js';
import { runBinary, type ServerProcess, startServer, stopServer } from './server.js';

export interface PostgresReplicaOptions {
  /** The dir of initdb, postgres and pg_basebackup. Default: the newest /usr/lib/postgresql/<v>/bin. */
  binDir?: string;
  /** The whole start, initdb to a replica that has replayed the primary. Default 30 s. */
  startTimeoutMs?: number;
}

/** One server of the pair: a connection URL (superuser `postgres`, trust auth, database `postgres`). */
export interface PostgresServer {
  url: string;
  port: number;
  pid: number;
}

export interface PostgresReplica {
  primary: PostgresServer;
  /** A hot standby streaming from the primary (`pg_basebackup -R`): read-only. */
  replica: PostgresServer;
  /** The temp dir holding both data dirs; removed by stop(). */
  dir: string;
  /** How long the start took, initdb to a replica that has replayed the primary (ms). */
  startedInMs: number;
  /**
   * Stops replay on the replica (`pg_wal_replay_pause()`): it keeps receiving WAL but applies
   * nothing after the record it is on, so what the primary commits from then on is not visible on
   * the replica until resumeReplay(). Deterministic lag for tests, not a timed one.
   */
  pauseReplay(): Promise<void>;
  /** Starts replay again and resolves once the replica has caught up (see caughtUp). */
  resumeReplay(): Promise<void>;
  /**
   * Resolves once the replica has replayed all the primary had written when this was called
   * (NOT_READY after `timeoutMs`, default 10 s): replication is asynchronous, so a row just
   * committed on the primary is not on the replica yet.
   */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** Stops both servers (fast shutdown, then SIGKILL) and removes the dirs. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a throwaway Postgres primary and a streaming hot-standby replica of it on loopback, each on
 * a free port with a temp data dir, and resolves once the replica streams and has replayed the
 * primary. It does not touch the machine's own Postgres (its port, config or socket dir). As root,
 * the servers run as the `postgres` system user (Postgres refuses root). Stops only what it started,
 * by pid, also when the start fails (PostgresReplicaError) and when the test process exits first.
 * @example
 * const pair = await startPostgresReplica();
 * const primary = new pg.Pool({ connectionString: pair.primary.url });
 * const replica = new pg.Pool({ connectionString: pair.replica.url });
 * await pair.pauseReplay(); // writes to the primary are not visible on the replica until resumeReplay()
 * await pair.stop();
 */
export async function startPostgresReplica(options: PostgresReplicaOptions = {}): Promise<PostgresReplica> {
  const started = Date.now();
  const deadline = started + (options.startTimeoutMs ?? 30_000);
  const left = () => Math.max(1, deadline - Date.now());
  const binDir = await serverBinDir(options.binDir);
  const user = await runAs();
  const root = await mkdtemp(join(tmpdir(), 'strata-pg-replica-'));
  const running: ServerProcess[] = [];
  // Last resort for a test process that dies before stop(): no listener may be async at exit.
  const onExit = () => {
    for (const server of running) {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // The replica first: stopped after its primary, it would log reconnect attempts meanwhile.
      for (const server of [...running].reverse()) await stopServer(server);
      running.length = 0;
      process.off('exit', onExit);
      await rm(root, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    await handOver(root, user);
    const primaryDir = join(root, 'primary');
    const replicaDir = join(root, 'replica');
    // biome-ignore format: flag/value pairs read best side by side
    await runBinary(binDir, 'initdb', [
      '-D', primaryDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync',
    ], user, left());
    const primaryPort = await freePort();
    running.push(await startServer(binDir, primaryDir, primaryPort, user, left()));
    // -R: standby.signal and primary_conninfo, so the copy starts as a standby streaming from it.
    // biome-ignore format: flag/value pairs read best side by side
    await runBinary(binDir, 'pg_basebackup', [
      '-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', replicaDir,
      '-R', '-X', 'stream', '-c', 'fast', '--no-sync',
    ], user, left());
    const replicaPort = await freePort();
    running.push(await startServer(binDir, replicaDir, replicaPort, user, left()));
    const [primary, replica] = running.map((s) => ({
      url: `postgres://postgres@127.0.0.1:${s.port}/postgres`,
      port: s.port,
      pid: s.pid,
    })) as [PostgresServer, PostgresServer];
    await waitForReplay(primary.url, replica.url, deadline);
    const onReplica = async (sql: string) => {
      const client = await connect(replica.url);
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    return {
      primary,
      replica,
      dir: root,
      startedInMs: Date.now() - started,
      pauseReplay: () => onReplica('select pg_wal_replay_pause()'),
      caughtUp: (timeoutMs = 10_000) => waitForReplay(primary.url, replica.url, Date.now() + timeoutMs),
      async resumeReplay() {
        await onReplica('select pg_wal_replay_resume()');
        await waitForReplay(primary.url, replica.url, Date.now() + 10_000);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err instanceof PostgresReplicaError
      ? err
      : new PostgresReplicaError('NODE_FAILED', 'the primary/replica pair did not start', { cause: err });
  }
}
