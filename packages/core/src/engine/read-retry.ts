import { connectionLost } from '../l3/connection-lost.js';
import type { L3Tier } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';

/**
 * The L3 reads that are one idempotent statement (a SELECT): sent again once when their connection
 * was lost. Writes are not here, nor anything that writes (claimWriter, markCounters, nextEpoch,
 * replaceValues): after a cut their outcome is unknown, and sending them again could apply twice.
 */
export const RETRIED_READS = [
  'findMany',
  'exists',
  'scan',
  'search',
  'count',
] as const satisfies readonly (keyof L3Tier)[];

/** Told of each retry before it is sent: the read, its schema (every retried read's first argument), the error. */
export type OnReadRetry = (op: string, schema: CompiledSchema, err: unknown) => void;

/**
 * Runs `read`; when it fails because its connection was lost (see `connectionLost`: a cut, a reset,
 * a pool client that ended, a terminated backend, a fetch cut mid-reply) and `deadline` (on
 * `performance.now()`) has not passed, runs it once more: the pool hands out another connection
 * (the broken one is dropped), so a passing cut no longer fails a read that a second connection
 * answers (reliability/test/regression-read-retry-cut.test.ts). Once only: a Postgres that keeps
 * cutting fails the read with the second error, within the same deadline (the caller's timeout
 * covers both tries). A statement error (any other SQLSTATE) or a timeout is never retried.
 * @example await retryLostRead(() => l3.findMany(schema, ids), performance.now() + 10_000, log);
 */
export async function retryLostRead<T>(
  read: () => Promise<T>,
  deadline: number,
  onRetry: (err: unknown) => void,
): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (!connectionLost(err) || performance.now() >= deadline) throw err;
    onRetry(err);
    return read();
  }
}
