/**
 * Why a throwaway primary/replica pair could not start: `BINARY_MISSING` (no Postgres server
 * binaries found), `INIT_FAILED` (initdb or pg_basebackup failed), `NODE_FAILED` (a server exited
 * or never accepted connections), `NOT_READY` (the replica did not replay the primary in time).
 * Everything the start had launched is stopped, and its dirs removed, before this is thrown.
 */
export type PostgresReplicaErrorCode = 'BINARY_MISSING' | 'INIT_FAILED' | 'NODE_FAILED' | 'NOT_READY';

export class PostgresReplicaError extends Error {
  override name = 'PostgresReplicaError';
  readonly code: PostgresReplicaErrorCode;

  constructor(code: PostgresReplicaErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}
