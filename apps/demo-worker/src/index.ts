import { createStrata } from '@strata/adapter-workers';
import { handleWriteBatch, type QueueBatch } from '@strata/adapter-workers/cloudflare';
import { app } from './app.js';
import { type Env, strataOptions } from './env.js';

export type { Env } from './env.js';

export default {
  fetch: app.fetch,
  /** Consumer of `strata-demo-writes`: applies the queued score writes to Postgres, in batches. */
  async queue(batch: QueueBatch, env: Env): Promise<void> {
    // requeue: a write Postgres could not take (an outage) goes back on the queue as a new message,
    // so an outage longer than max_retries never dead-letters acknowledged scores.
    await handleWriteBatch(createStrata(env, strataOptions(env)), batch, {
      deadLetter: env.WRITES_DLQ,
      requeue: env.WRITES,
    });
  },
};
