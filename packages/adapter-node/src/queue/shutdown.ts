import type { Redis } from 'ioredis';

/** Ends a connection this package opened: QUIT when it is up, else stop its reconnect attempts. */
export async function shutdown(redis: Redis): Promise<void> {
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
