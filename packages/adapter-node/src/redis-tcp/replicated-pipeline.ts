import type { ChainableCommander, Cluster } from 'ioredis';
import { isCluster, type RedisClient } from './cluster-slots.js';
import type { ReplicaAck } from './wait-replicas.js';

/** Replies that mean the command did not run there: the slot is served elsewhere, or not yet. */
const NOT_RUN = /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN)\b/;
/** Attempts of one call while the slot map settles (a failover takes a second or two). */
const ATTEMPTS = 4;
const SETTLE_MS = 100;

/**
 * `add(pipeline)` then `WAIT replicas timeout`, in one pipeline, so WAIT runs on the connection that
 * ran the writes and counts the replicas that have them. Resolves the replies, WAIT's last.
 *
 * On a Cluster, ioredis re-sends a pipeline after MOVED only when every command in it failed the
 * same way, and WAIT (no key) never does: a pipeline sent to a demoted or wrong node would fail that
 * way forever, its slot map never refreshed. So a MOVED / ASK / CLUSTERDOWN / TRYAGAIN reply to the
 * first command (it did not run) refreshes the slot map and sends the pipeline again, a few times;
 * any other failure (a connection lost mid-call: the writes may have run) refreshes it and returns.
 *
 * No attempt is sent later than `retryWithinMs` (default: the WAIT timeout) after the first: the
 * caller gives up at its own timeout (Strata's `timeouts.l2`) and reports that nothing was written,
 * so a write sent after that would land unseen, at a version newer than writes acknowledged
 * meanwhile. With the default, the last attempt ends within twice the WAIT timeout.
 */
export async function execThenWait(
  client: RedisClient,
  add: (pipeline: ChainableCommander) => ChainableCommander,
  ack: ReplicaAck,
  retryWithinMs: number = ack.timeoutMs,
): Promise<[Error | null, unknown][]> {
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    const replies = (await add(client.pipeline()).call('WAIT', ack.replicas, ack.timeoutMs).exec()) ?? [];
    const first = replies[0]?.[0];
    if (!isCluster(client) || !(first instanceof Error)) return replies;
    const notRun = NOT_RUN.test(first.message);
    if (notRun || first.name !== 'ReplyError') await refreshSlots(client);
    if (!notRun || attempt === ATTEMPTS) return replies;
    if (!first.message.startsWith('MOVED')) await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    // After the slot map refresh and the pause: whatever they took counts.
    if (performance.now() - started > retryWithinMs) return replies;
  }
}

/** Resolves once the Cluster client has asked for the slot map again (whatever the answer). */
function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => cluster.refreshSlotsCache(() => resolve()));
}
