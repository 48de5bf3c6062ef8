export { type CreateStrataOptions, createStrata, type StrataBindings } from './create-strata.js';
// The Hono middleware is `@strata/adapter-workers/hono` (src/hono.ts): apps without Hono skip it.
export type { QueueBatch, QueueContentType, QueueMessage, QueueProducer } from './queue/bindings.js';
export { type CloudflareQueueOptions, createCloudflareQueue } from './queue/cloudflare-queue.js';
export {
  type DeadMessage,
  type HandleWriteBatchOptions,
  handleWriteBatch,
  type WriteBatchResult,
  type WriteDeadLetter,
} from './queue/consumer.js';
export { defaultRetryDelay, MAX_RETRY_DELAY_SECONDS } from './queue/retry-delay.js';
export { QUEUE_LIMITS } from './queue/send-batches.js';
