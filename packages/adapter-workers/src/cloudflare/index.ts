// `@strata/adapter-workers/cloudflare`: Cloudflare Queues for write-behind: the producer
// (`createCloudflareQueue`, which `createStrata` builds from the `WRITES` binding) and the consumer
// a Worker's `queue()` handler calls (`handleWriteBatch`), with the bindings' types and limits.

export type { QueueBatch, QueueContentType, QueueMessage, QueueProducer } from './bindings.js';
export {
  type DeadMessage,
  type HandleWriteBatchOptions,
  handleWriteBatch,
  type UnroutableMessage,
  type WriteBatchResult,
  type WriteDeadLetter,
} from './consumer.js';
export { type DeadLetterBatchResult, withdrawDeadLetters } from './dead-letters.js';
export { type CloudflareQueueOptions, createCloudflareQueue } from './queue.js';
export { defaultRetryDelay, MAX_RETRY_DELAY_SECONDS } from './retry-delay.js';
export { QUEUE_LIMITS } from './send-batches.js';
