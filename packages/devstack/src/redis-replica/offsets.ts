import { Redis } from 'ioredis';

/**
 * A server's replication offset as `ROLE` reports it: a primary's `master_repl_offset` (every byte
 * of replication stream it has produced), a replica's applied offset (the stream it has executed,
 * `server.master->reploff` in Redis' source; -1 while it has no link to its primary). Both count
 * bytes of the same stream, so a replica at or past a primary's offset holds all the primary did
 * up to then.
 */
export function roleOffset(reply: unknown): number {
  if (!Array.isArray(reply)) return -1;
  const [role] = reply as unknown[];
  const raw = role === 'master' ? reply[1] : role === 'slave' ? reply[4] : undefined;
  const offset = Number(raw);
  return Number.isSafeInteger(offset) ? offset : -1;
}

/** A short-lived client for the pair's own housekeeping: no retries, errors reach the caller. */
export function housekeeping(port: number): Redis {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    protocol: 2,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  return redis;
}

/**
 * Resolves once the replica's applied offset is at or past what the primary's was when this was
 * called; false once `deadline` (a `Date.now()` value) passes first. Replication has no event a
 * client can await, so this polls ROLE every 10 ms, bounded by the deadline.
 */
export async function waitForOffset(
  primaryPort: number,
  replicaPort: number,
  deadline: number,
): Promise<boolean> {
  const primary = housekeeping(primaryPort);
  const replica = housekeeping(replicaPort);
  try {
    const target = roleOffset(await primary.call('ROLE'));
    while (Date.now() < deadline) {
      try {
        if (roleOffset(await replica.call('ROLE')) >= target && target >= 0) return true;
      } catch {
        // Not listening yet, or restarting: try again until the deadline.
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return false;
  } finally {
    primary.disconnect();
    replica.disconnect();
  }
}
