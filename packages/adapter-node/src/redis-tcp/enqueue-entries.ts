import type { RedisClient } from './cluster-slots.js';
import { execThenWait } from './replicated-pipeline.js';
import { WRITE_FIELD } from './stream-entry.js';
import { results } from './stream-replies.js';
import { checkReplicas, type ReplicaAck } from './wait-replicas.js';

/** XADDs ARGV[2..] under field ARGV[1] to KEYS[1]; a script is atomic as the MULTI it stands in for. */
const ENQUEUE_SCRIPT = `for i = 2, #ARGV do redis.call('XADD', KEYS[1], '*', ARGV[1], ARGV[i]) end
return #ARGV - 1`;

/**
 * Adds one stream entry per value, all or none. Without replicas to wait for: one MULTI of XADDs.
 * With: the XADDs in one script and `WAIT replicas timeout` after it in one pipeline, which goes to
 * the stream's node on one connection (also on a Cluster), so WAIT counts the replicas that have them.
 */
export async function enqueueEntries(
  redis: RedisClient,
  stream: string,
  values: readonly string[],
  ack: ReplicaAck,
): Promise<void> {
  if (ack.replicas === 0) {
    const tx = redis.multi();
    for (const value of values) tx.xadd(stream, '*', WRITE_FIELD, value);
    results(await tx.exec(), 'enqueue');
    return;
  }
  const [, acked] = results(
    await execThenWait(redis, (p) => p.eval(ENQUEUE_SCRIPT, 1, stream, WRITE_FIELD, ...values), ack),
    'enqueue',
  );
  checkReplicas('Redis Stream queue enqueue', ack, acked, 'QUEUE_UNAVAILABLE');
}
