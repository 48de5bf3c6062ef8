import type { Strata } from '@strata/core';
import { withdrawMoved } from '@strata/core/admin';
import { type FlushTarget, parseQueuedWrite, type QueuedWrite, type WriteRoute } from '@strata/core/driver';
import type { QueueBatch, QueueMessage } from './bindings.js';
import { clampDelay, defaultRetryDelay } from './retry-delay.js';

/** What {@link withdrawDeadLetters} found in a dead-letter queue's batch, by message id. */
export interface DeadLetterBatchResult {
  /** Writes the platform moved (past `max_retries`): their cached copies are withdrawn. */
  withdrawn: string[];
  /** Such writes whose withdrawal L2 did not take: retried (with a delay), to be withdrawn then. */
  retried: string[];
  /** Such writes no Strata given flushes (another app's, or a table none registers): left as they are. */
  unroutable: string[];
  /** Anything else: a dead letter `handleWriteBatch` sent (Strata withdrew its copy first), or no write. */
  other: string[];
}

/**
 * For a Worker's `queue()` handler of the write-behind queue's `dead_letter_queue`: withdraws the
 * cached copies of the writes the platform moved there by itself, past the consumer's
 * `max_retries` (a message no Strata of the consumer flushed, a dead letter or requeue whose send
 * failed, a Postgres outage without `requeue`). Such a message is the write as its producer sent
 * it, and nothing in Strata saw it given up on: without this its acknowledged row stayed pending in
 * L2 (a week), read by every isolate and laid over every search, while Postgres never got it. Each
 * write goes to the Strata of its app (`target` as for {@link handleWriteBatch}: give the producer
 * app's Strata, which registers its table), which drops the copy at the write's version (a newer
 * write's copy stays) and tells the other isolates.
 *
 * It settles only the messages whose withdrawal L2 did not take (retried: the dead-letter queue's
 * `max_retries` should allow a few); the others are the caller's to keep (store, alert) and ack.
 *
 * @example
 * async queue(batch, env) {
 *   if (batch.queue === 'app-writes-dlq') {
 *     const { retried } = await withdrawDeadLetters(strataFor(env), batch);
 *     for (const msg of batch.messages) if (!retried.includes(msg.id)) { await keep(msg.body); msg.ack(); }
 *   }
 * }
 */
export async function withdrawDeadLetters(
  target: FlushTarget,
  batch: QueueBatch,
  options: { retryDelay?: (attempts: number) => number } = {},
): Promise<DeadLetterBatchResult> {
  const result: DeadLetterBatchResult = { withdrawn: [], retried: [], unroutable: [], other: [] };
  const shares = new Map<Strata, { msg: QueueMessage; write: QueuedWrite }[]>();
  for (const msg of batch.messages) {
    const write = movedWrite(msg.body);
    if (!write) {
      result.other.push(msg.id);
      continue;
    }
    const strata = await strataOf(target, { schema: write.schema, keyPrefix: write.keyPrefix });
    if (!strata) {
      result.unroutable.push(msg.id);
      continue;
    }
    shares.set(strata, [...(shares.get(strata) ?? []), { msg, write }]);
  }
  const retryDelay = options.retryDelay ?? defaultRetryDelay;
  for (const [strata, share] of shares) {
    const done = await withdrawMoved(
      strata,
      share.map((s) => s.write),
    );
    for (const i of done.withdrawn) result.withdrawn.push(share[i]!.msg.id);
    for (const i of done.skipped) result.unroutable.push(share[i]!.msg.id);
    for (const i of done.failed) {
      const { msg } = share[i]!;
      msg.retry({ delaySeconds: clampDelay(retryDelay(Math.max(0, msg.attempts - 1))) });
      result.retried.push(msg.id);
    }
  }
  return result;
}

/** The write a message carries as its producer sent it; undefined for anything else (a Strata dead letter). */
function movedWrite(body: unknown): QueuedWrite | undefined {
  if (typeof body === 'object' && body !== null && 'handle' in body) return undefined;
  try {
    return parseQueuedWrite(typeof body === 'string' ? JSON.parse(body) : body);
  } catch {
    return undefined;
  }
}

async function strataOf(target: FlushTarget, route: WriteRoute): Promise<Strata | undefined> {
  if (typeof target !== 'function') {
    const list: readonly Strata[] = Array.isArray(target) ? target : [target as Strata];
    return list.find((strata) => strata.flushes(route));
  }
  try {
    const strata = await target(route);
    return strata?.flushes(route) ? strata : undefined;
  } catch {
    return undefined;
  }
}
