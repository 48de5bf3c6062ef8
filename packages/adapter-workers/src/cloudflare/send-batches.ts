import { StrataError } from '@strata/core';
import type { QueueProducer } from './bindings.js';

/**
 * Cloudflare Queues' producer limits (developers.cloudflare.com/queues/platform/limits): one
 * `sendBatch` takes at most 100 messages and 256 KB in all, one message at most 128 KB, and the
 * platform counts about 100 bytes of its own metadata per message against both. KB are 1000 bytes,
 * as the platform (and Miniflare) count them; staying under both limits is this module's job, so a
 * big `setMany` never meets a 413 from the platform.
 */
export const QUEUE_LIMITS = Object.freeze({
  batchMessages: 100,
  batchBytes: 256_000,
  messageBytes: 128_000,
  metadataBytes: 100,
});

const encoder = new TextEncoder();

/**
 * Splits JSON bodies, in order, into the fewest consecutive batches within {@link QUEUE_LIMITS}.
 * Throws VALIDATION_FAILED, naming the body, when one alone is over the message limit: no batch
 * could carry it, and failing before anything is sent keeps the caller's batch whole.
 *
 * @example planBatches(Array.from({ length: 250 }, (_, i) => ({ i })), 'enqueue').map((b) => b.length); // [100, 100, 50]
 */
export function planBatches<T>(bodies: readonly T[], label: string): T[][] {
  const { batchMessages, batchBytes, messageBytes, metadataBytes } = QUEUE_LIMITS;
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  bodies.forEach((body, index) => {
    const size = encoder.encode(JSON.stringify(body) ?? 'null').byteLength + metadataBytes;
    if (size > messageBytes) {
      throw new StrataError(
        'VALIDATION_FAILED',
        `${label}: message ${index} is ${size} bytes, over the Cloudflare Queues limit of ${messageBytes}`,
        { details: { index, bytes: size, limit: messageBytes } },
      );
    }
    if (current.length === batchMessages || bytes + size > batchBytes) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(body);
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Sends the bodies as JSON messages, one `sendBatch` per planned batch, one after the other, and
 * resolves once the platform accepted them all. Sequential on purpose: if one call fails, the ones
 * after it are never sent, so what got through is a prefix of `bodies`.
 */
export async function sendJsonBatches(
  binding: QueueProducer,
  bodies: readonly unknown[],
  label: string,
): Promise<void> {
  for (const batch of planBatches(bodies, label)) {
    await binding.sendBatch(batch.map((body) => ({ body, contentType: 'json' as const })));
  }
}
