import type { RedisClient } from './cluster-slots.js';
import type { TakeTarget } from './take-batch.js';

/** Deletes consumer ARGV[2] of group ARGV[1] if it holds no pending entry: 1 if it did, 0 if not. */
const LEAVE_GROUP_SCRIPT = `local held = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #held > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1`;

/**
 * XGROUP DELCONSUMER only when the consumer holds nothing (deleting one with pending entries would
 * drop them); atomic in one script. Whether it was removed: if Redis does not answer, the consumer
 * stays, as before (an empty consumer costs a few bytes). Never rejects.
 */
export async function leaveGroup(
  redis: RedisClient,
  { stream, group, consumer }: TakeTarget,
): Promise<boolean> {
  try {
    return (await redis.eval(LEAVE_GROUP_SCRIPT, 1, stream, group, consumer)) === 1;
  } catch {
    return false;
  }
}
