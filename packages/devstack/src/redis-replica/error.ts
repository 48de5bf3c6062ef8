/**
 * Why a throwaway Redis primary/replica pair could not start or do what was asked: `BINARY_MISSING`
 * (no redis-server), `NODE_FAILED` (a server exited or never listened), `NOT_READY` (the replica did
 * not sync or catch up with the primary in the time allowed). Everything the start had launched is
 * stopped before a start failure is thrown.
 */
export type RedisReplicaErrorCode = 'BINARY_MISSING' | 'NODE_FAILED' | 'NOT_READY';

export class RedisReplicaError extends Error {
  override name = 'RedisReplicaError';
  readonly code: RedisReplicaErrorCode;

  constructor(code: RedisReplicaErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}
