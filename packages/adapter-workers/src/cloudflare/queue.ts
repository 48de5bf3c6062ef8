import { StrataError, type WriteQueue } from '@strata/core';
import { type Delivery, parseQueuedWrites, type QueuedWrite, queueClosedError } from '@strata/core/driver';
import type { QueueProducer } from './bindings.js';
import { sendJsonBatches } from './send-batches.js';

export interface CloudflareQueueOptions {
  /** Shown in errors. Default 'cloudflare-queue'. */
  name?: string;
}

/**
 * The producer side of write-behind on Cloudflare Queues: a push queue, so it has no `take`. The
 * platform delivers batches to the Worker's `queue()` handler, which calls {@link handleWriteBatch}.
 *
 * - `enqueue(writes)`: checks every write first (a bad one sends none), then one `sendBatch` of JSON
 *   messages, split only where Cloudflare's limits demand (100 messages / 256 KB per batch, see
 *   `QUEUE_LIMITS`). It resolves once the platform accepted them: that is the acknowledgement
 *   write-behind waits for. A write over 128 KB throws VALIDATION_FAILED before anything is sent.
 *   If a later batch of a split `enqueue` fails, the batches before it were accepted and will be
 *   flushed although `set` reports QUEUE_UNAVAILABLE; the versioned flush keeps that harmless.
 * - `ack`, `retry`, `deadLetter`: reject with INVALID_CONFIG. On Cloudflare the consumer settles each
 *   message itself (`msg.ack()` / `msg.retry()`); nothing on the producer side can, and a silent no-op
 *   would hide a caller that believes it did.
 * - `pending()`: the queue's backlog as the platform reports it (`binding.metrics()`): messages of
 *   every producer waiting for delivery, not only this instance's, and not those being delivered or
 *   waiting out a retry delay. 0 where the runtime has no `metrics()`: the producer cannot tell.
 * - `close()`: the binding belongs to the platform, so there is nothing to release; later calls
 *   reject with QUEUE_UNAVAILABLE.
 *
 * @example
 * // wrangler.toml: [[queues.producers]] binding = "WRITES", queue = "app-writes"
 * const strata = new Strata({ l2, l3, schemas, writeBehind: { queue: createCloudflareQueue(env.WRITES) } });
 * await strata.set(players, { id: 'p1', level: 2 }); // in L2 and on the queue; Postgres follows
 */
export function createCloudflareQueue(
  binding: QueueProducer,
  options: CloudflareQueueOptions = {},
): WriteQueue {
  return new CloudflareQueue(binding, options.name ?? 'cloudflare-queue');
}

class CloudflareQueue implements WriteQueue {
  readonly name: string;
  readonly #binding: QueueProducer;
  #closed = false;

  constructor(binding: QueueProducer, name: string) {
    this.#binding = binding;
    this.name = name;
  }

  async enqueue(writes: readonly QueuedWrite[]): Promise<void> {
    this.#checkOpen();
    const valid = parseQueuedWrites(writes);
    if (valid.length > 0) await sendJsonBatches(this.#binding, valid, `${this.name} enqueue`);
  }

  async ack(_handles: readonly string[]): Promise<void> {
    throw this.#consumerOnly('ack');
  }

  async retry(_handles: readonly string[]): Promise<void> {
    throw this.#consumerOnly('retry');
  }

  async deadLetter(_deliveries: readonly Delivery[], _reason: string): Promise<void> {
    throw this.#consumerOnly('deadLetter');
  }

  async pending(): Promise<number> {
    this.#checkOpen();
    if (typeof this.#binding.metrics !== 'function') return 0;
    return (await this.#binding.metrics()).backlogCount;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #consumerOnly(op: string): StrataError {
    return new StrataError(
      'INVALID_CONFIG',
      `${this.name}: no ${op}() on a Queue producer: the queue() handler settles messages (handleWriteBatch)`,
      { details: { queue: this.name, op } },
    );
  }

  #checkOpen(): void {
    if (this.#closed) throw queueClosedError(this.name);
  }
}
