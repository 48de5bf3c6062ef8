import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';

/**
 * A loopback TCP relay between a replica and its primary: the replica's `--replicaof` points here,
 * so the replication stream flows through it and a test can stop it on the wire, deterministically.
 * `hold()` keeps every byte the primary sends from reaching the replica (queued in order, none
 * lost); the replica's own traffic (its REPLCONF ACKs) still flows. `release()` sends what was held
 * and carries on. While held, the replica keeps its link "up" until `repl-timeout` (60 s by default)
 * passes without a byte from the primary: a hold is for the seconds of a test, not longer.
 */
export interface ReplicationRelay {
  readonly port: number;
  /** Stops the primary's bytes (the replication stream) from reaching the replica. */
  hold(): void;
  /** Sends what was held, in order, and forwards as before. */
  release(): void;
  /** True between hold() and release(). */
  readonly held: boolean;
  /** Bytes from the primary waiting in the relay now. */
  readonly queuedBytes: number;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

interface Link {
  replica: Socket;
  primary: Socket;
  /** Chunks from the primary not yet written to the replica (while held). */
  queue: Buffer[];
}

/** Starts a relay on a free loopback port, forwarding to 127.0.0.1:`primaryPort`. */
export async function startReplicationRelay(primaryPort: number): Promise<ReplicationRelay> {
  const links = new Set<Link>();
  let held = false;
  const flush = (link: Link) => {
    for (const chunk of link.queue) link.replica.write(chunk);
    link.queue.length = 0;
  };
  const server = createServer((replica) => {
    const primary = createConnection({ host: '127.0.0.1', port: primaryPort });
    const link: Link = { replica, primary, queue: [] };
    links.add(link);
    replica.setNoDelay(true);
    primary.setNoDelay(true);
    // Either side going away takes the other with it, as a broken link would.
    const end = () => {
      links.delete(link);
      link.queue.length = 0;
      replica.destroy();
      primary.destroy();
    };
    replica.on('error', end).on('close', end);
    primary.on('error', end).on('close', end);
    replica.on('data', (chunk: Buffer) => primary.write(chunk));
    primary.on('data', (chunk: Buffer) => {
      if (held) link.queue.push(chunk);
      else replica.write(chunk);
    });
  });
  server.on('error', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('replication relay: no address');
  return {
    port: address.port,
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const link of links) flush(link);
    },
    get held() {
      return held;
    },
    get queuedBytes() {
      let bytes = 0;
      for (const link of links) for (const chunk of link.queue) bytes += chunk.length;
      return bytes;
    },
    async close() {
      for (const link of [...links]) {
        link.replica.destroy();
        link.primary.destroy();
      }
      links.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
