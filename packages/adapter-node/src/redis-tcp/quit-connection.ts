import type { Redis } from 'ioredis';

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
