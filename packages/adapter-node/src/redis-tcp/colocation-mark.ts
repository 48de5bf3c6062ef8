import { randomUUID } from 'node:crypto';
import type { RedisClient } from './cluster-slots.js';

/** Long enough for the engine's read through L2 right after; short enough to leave nothing behind. */
const MARK_TTL_MS = 10_000;

/**
 * Writes a fresh random value under `<stream>:colocation:<value>` on the queue's connection, for the
 * engine to read back through L2: only the same Redis (and database) shows it (`ColocatedQueue.mark`).
 */
export async function markRedis(redis: RedisClient, stream: string): Promise<{ key: string; value: string }> {
  const value = randomUUID();
  const key = `${stream}:colocation:${value}`;
  await redis.set(key, value, 'PX', MARK_TTL_MS);
  return { key, value };
}
