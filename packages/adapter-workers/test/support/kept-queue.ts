/**
 * A consumer test's queue: a producer binding that keeps the bodies it is sent (JSON-copied, as the
 * platform does), and the delivery of any of them to a consumer Strata as one real Queue batch
 * (`createMessageBatch`), in the order and with the delivery count a test picks.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import type { Strata } from '@strata/core';
import {
  type HandleWriteBatchOptions,
  handleWriteBatch,
  type QueueProducer,
} from '../../src/cloudflare/index.js';
import { WB_QUEUE } from '../fixtures/wb-app.js';

/** A producer binding that keeps what it is sent: the producer's messages, or the dead letters. */
export function keptQueue(): { bodies: unknown[]; producer: QueueProducer } {
  const bodies: unknown[] = [];
  const producer: QueueProducer = {
    async sendBatch(messages) {
      for (const m of messages) bodies.push(JSON.parse(JSON.stringify(m.body)));
    },
  };
  return { bodies, producer };
}

let sent = 0;

/** One batch of `bodies` (each delivered `attempts` times so far) to `consumer`; what the platform was told. */
export async function deliverBatch(
  consumer: Strata,
  bodies: readonly unknown[],
  attempts = 1,
  options: HandleWriteBatchOptions = {},
): Promise<{ acked: number; retried: number }> {
  const batch = createMessageBatch<unknown>(
    WB_QUEUE,
    bodies.map((body) => ({ id: `m${++sent}`, attempts, body, timestamp: new Date() })),
  );
  await handleWriteBatch(consumer, batch, options);
  const result = await getQueueResult(batch, createExecutionContext());
  return { acked: result.explicitAcks.length, retried: result.retryMessages.length };
}
