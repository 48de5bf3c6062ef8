import type { Cluster, Redis } from 'ioredis';

/**
 * Ends a connection this package opened: QUIT when it is up (the server sees a clean goodbye), else
 * disconnect, which also stops a pending reconnect timer. Never rejects.
 */
export async function quitConnection(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // The connection died while quitting: disconnect below still stops any reconnect timer.
    }
  }
  redis.disconnect();
}

/** `quitConnection` for a Cluster client this package opened: QUIT on every node, else disconnect. */
export async function quitCluster(cluster: Cluster): Promise<void> {
  if (cluster.status === 'ready') {
    try {
      await cluster.quit();
      return;
    } catch {
      // A node died while quitting: disconnect below stops every reconnect timer.
    }
  }
  cluster.disconnect();
}
