import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A cluster node this test restarted itself: stop() ends it (its own process group, by pid). */
export interface RestartedNode {
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Starts a crashed node of a `startRedisCluster` cluster again, from its own directory (its AOF and
 * `nodes.conf`, so it keeps its identity): as after a real crash, it rejoins as a replica of the
 * replica that took its place. Resolves once it accepts connections.
 */
export async function restartClusterNode(clusterDir: string, port: number): Promise<RestartedNode> {
  const dir = join(clusterDir, `node-${port}`);
  // The node's own line in nodes.conf: `<id> 127.0.0.1:<port>@<bus port> myself,…`.
  const conf = await readFile(join(dir, 'nodes.conf'), 'utf8');
  const busPort = /:\d+@(\d+)\S* myself/.exec(conf)?.[1];
  if (busPort === undefined) throw new Error(`no bus port for node ${port} in its nodes.conf`);
  // biome-ignore format: flag/value pairs read best side by side
  const args = [
    '--port', String(port), '--cluster-port', busPort, '--bind', '127.0.0.1',
    '--protected-mode', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
    '--cluster-node-timeout', '1000', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec',
    '--save', '', '--daemonize', 'no', '--repl-diskless-sync-delay', '0',
  ];
  const child: ChildProcess = spawn('redis-server', args, {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid!;
  const kill = () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  process.once('exit', kill);
  child.stderr!.resume();
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${port} did not restart: ${output}`)), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => reject(new Error(`node ${port} exited: ${output}`)));
  });
  return {
    pid,
    async stop() {
      process.off('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      kill();
      await exited;
    },
  };
}
