/**
 * Why a throwaway Redis Cluster could not start: `BINARY_MISSING` (no redis-server / redis-cli),
 * `NODE_FAILED` (a node exited or never listened), `CREATE_FAILED` (`redis-cli --cluster create`
 * failed), `NOT_READY` (the nodes did not agree on a healthy cluster within the time allowed).
 * Everything the start had launched is stopped before this is thrown.
 */
export type RedisClusterErrorCode = 'BINARY_MISSING' | 'NODE_FAILED' | 'CREATE_FAILED' | 'NOT_READY';

export class RedisClusterError extends Error {
  override name = 'RedisClusterError';
  readonly code: RedisClusterErrorCode;
  /** The pids of the nodes the start had launched, all stopped by the time this reaches a caller. */
  pids: readonly number[] = [];

  constructor(code: RedisClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}
