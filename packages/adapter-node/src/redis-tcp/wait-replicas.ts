import { StrataError, type StrataErrorCode } from '@strata/core';

/**
 * How many replicas must have a write before it counts as done, and how long to wait for them
 * (`WAIT replicas timeoutMs`, sent on the write's connection right after it). Redis replicates
 * asynchronously: a write only its master has can vanish when a replica is promoted in its place.
 * `replicas: 0` skips the WAIT.
 */
export interface ReplicaAck {
  readonly replicas: number;
  readonly timeoutMs: number;
}

/**
 * The default on a Redis Cluster: one replica, waited for at most 250 ms (a replica on the same
 * network acknowledges in about a millisecond). Shorter than Strata's L2 timeout (1 s by default),
 * so that a shard without a replica is refused as such, not as a timeout.
 */
export const CLUSTER_REPLICA_ACK: ReplicaAck = { replicas: 1, timeoutMs: 250 };

/** Validates `replicas` / `replicaTimeoutMs` options; INVALID_CONFIG names the field. */
export function replicaAck(
  owner: string,
  replicas: number | undefined,
  timeoutMs: number | undefined,
  fallback: ReplicaAck,
): ReplicaAck {
  const ack = { replicas: replicas ?? fallback.replicas, timeoutMs: timeoutMs ?? fallback.timeoutMs };
  if (!Number.isSafeInteger(ack.replicas) || ack.replicas < 0)
    invalid(owner, 'replicas', 'must be a whole number >= 0');
  if (!Number.isSafeInteger(ack.timeoutMs) || ack.timeoutMs < 1)
    invalid(owner, 'replicaTimeoutMs', 'must be a whole number >= 1');
  return ack;
}

/**
 * Throws when `WAIT` counted fewer replicas than asked: the write is on its master (and may still
 * reach a replica, or be applied) but was not confirmed, so the caller must not take it as done.
 */
export function checkReplicas(
  who: string,
  ack: ReplicaAck,
  acked: unknown,
  code: StrataErrorCode = 'L2_UNAVAILABLE',
): void {
  const count = Number(acked);
  if (count >= ack.replicas) return;
  throw new StrataError(
    code,
    `${who}: the write reached ${Number.isFinite(count) ? count : 0} of ${ack.replicas} replica(s) ` +
      `within ${ack.timeoutMs} ms (WAIT), so it is not acknowledged: a failover could lose it`,
    { details: { replicas: ack.replicas, acked: count } },
  );
}

function invalid(owner: string, field: string, why: string): never {
  throw new StrataError('INVALID_CONFIG', `${owner}: ${field} ${why}`, { details: { field } });
}
