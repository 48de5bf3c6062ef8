import type { RedisCommand } from './commands.js';

/**
 * Commands a replica may answer: they read keys and change nothing, on the primary or anywhere. A
 * short list on purpose (what `@upstash/redis` sends for reads); everything else, scripts included
 * (EVALSHA may write), goes to the primary.
 */
const READ_ONLY = new Set([
  'EXISTS',
  'GET',
  'GETRANGE',
  'HEXISTS',
  'HGET',
  'HGETALL',
  'HLEN',
  'HMGET',
  'LINDEX',
  'LLEN',
  'LRANGE',
  'MGET',
  'PTTL',
  'SCARD',
  'SISMEMBER',
  'SMEMBERS',
  'STRLEN',
  'TTL',
  'TYPE',
  'XLEN',
  'XRANGE',
  'XREVRANGE',
  'ZCARD',
  'ZRANGE',
  'ZRANK',
  'ZSCORE',
]);

/** True when every command only reads: the request may go to the replica. */
export function readsOnly(commands: readonly RedisCommand[]): boolean {
  return commands.length > 0 && commands.every((command) => READ_ONLY.has(command.name));
}
