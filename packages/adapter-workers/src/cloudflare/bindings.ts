/**
 * The parts of the Workers Queue bindings this package uses, declared here so it needs no Workers
 * types of its own: a producer binding (`Queue` in @cloudflare/workers-types, `env.MY_QUEUE`) and a
 * `queue()` handler's `MessageBatch` fit these as they are.
 */

/** How Cloudflare Queues serialize a message body. */
export type QueueContentType = 'text' | 'bytes' | 'json' | 'v8';

/** A producer binding (`Queue<Body>`), e.g. `env.WRITES`. */
export interface QueueProducer {
  sendBatch(
    messages: Iterable<{ body: unknown; contentType?: QueueContentType; delaySeconds?: number }>,
    options?: { delaySeconds?: number },
  ): Promise<unknown>;
  /** The queue's backlog as the platform reports it (newer runtimes). */
  metrics?(): Promise<{ backlogCount: number }>;
}

/** One message of a delivered batch (`Message<Body>`). */
export interface QueueMessage {
  readonly id: string;
  readonly body: unknown;
  /** Deliveries so far, this one included: 1 on the first. */
  readonly attempts: number;
  ack(): void;
  retry(options?: { delaySeconds?: number }): void;
}

/** What a Worker's `queue()` handler receives (`MessageBatch<Body>`). */
export interface QueueBatch {
  readonly queue: string;
  readonly messages: readonly QueueMessage[];
}
