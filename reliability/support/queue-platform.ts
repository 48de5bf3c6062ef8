import { handleWriteBatch, type QueueProducer } from '@strata/adapter-workers/cloudflare';

/** What `handleWriteBatch` flushes into: a Strata, several (one per tenant), or a resolver. */
type Consumer = Parameters<typeof handleWriteBatch>[0];

/**
 * The platform's side of a Cloudflare Queue, as plain objects: a producer binding whose sends are
 * queued (as JSON copies, as the platform delivers them), and `deliver`, which hands a batch from
 * the head to `handleWriteBatch`. What is not acked comes back at the tail with attempts + 1; a
 * `crash` (the consumer died after the flush, before the platform heard of any ack) brings the whole
 * batch back. Delivery is thus at least once and out of order, as the platform's.
 */
export function queuePlatform() {
  const queued: { id: string; body: unknown; attempts: number }[] = [];
  let sent = 0;
  /** Per message id, how often the consumer asked for it again (`retry()`), crashes left out. */
  const retries = new Map<string, number>();
  const producer: QueueProducer = {
    async sendBatch(messages) {
      for (const m of messages) {
        queued.push({ id: `m${++sent}`, body: JSON.parse(JSON.stringify(m.body)), attempts: 1 });
      }
    },
  };
  const deliver = async (consumer: Consumer, size: number, crash: boolean): Promise<void> => {
    const taken = queued.splice(0, size);
    if (taken.length === 0) return;
    const settled = new Map<string, 'ack' | 'retry'>();
    const messages = taken.map((m) => ({
      ...m,
      ack: () => settled.set(m.id, 'ack'),
      retry: () => settled.set(m.id, 'retry'),
    }));
    await handleWriteBatch(consumer, { queue: 'writes', messages });
    for (const m of taken) {
      if (!crash && settled.get(m.id) === 'retry') retries.set(m.id, (retries.get(m.id) ?? 0) + 1);
      if (crash || settled.get(m.id) !== 'ack') queued.push({ ...m, attempts: m.attempts + 1 });
    }
  };
  /** Delivers (no more crashes) until nothing is left, or `rounds` batches went by. */
  const drain = async (consumer: Consumer, rounds = 100): Promise<void> => {
    for (let round = 0; queued.length > 0 && round < rounds; round++) await deliver(consumer, 10, false);
  };
  /** The most `retry()`s of one message (the platform dead-letters it past its max_retries). */
  const mostRetries = () => Math.max(0, ...retries.values());
  return { producer, queued, deliver, drain, mostRetries };
}
