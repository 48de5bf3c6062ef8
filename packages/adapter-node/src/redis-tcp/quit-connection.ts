import type { Cluster, Redis } from 'ioredis';

/**
 * Ends a connection (or a Cluster client) this package opened: QUIT when it is up (the server, or
 * every node, sees a clean goodbye), else disconnect, which also stops pending reconnect timers.
 * Never rejects.
 */
export async function quitConnection(redis: Redis | Cluster): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // The connection (or a node) died while quitting: disconnect below still stops reconnecting.
    }
  }
  redis.disconnect();
}
