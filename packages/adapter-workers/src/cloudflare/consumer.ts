import { consoleLogger, type Logger, type StrataError } from '@strata/core';
import {
  type DeadLetter,
  type Delivery,
  deadLettersSentRouted,
  decodeQueuedWrite,
  type FlushTarget,
  flushRouted,
  parseQueuedWrite,
  type QueuedWrite,
  triesMade,
  type UnreadableDeadLetter,
} from '@strata/core/driver';
import type { QueueBatch, QueueMessage, QueueProducer } from './bindings.js';
import { clampDelay, defaultRetryDelay } from './retry-delay.js';
import { planBatches } from './send-batches.js';

/**
 * A message body on the dead-letter queue, as {@link handleWriteBatch} sends it: core's records, with
 * the message id as `handle`. Messages the platform moves there itself (after `max_retries`) keep
 * their original body: a plain `QueuedWrite`.
 */
export type WriteDeadLetter = DeadLetter | UnreadableDeadLetter;

export interface HandleWriteBatchOptions {
  /**
   * Producer binding of a dead-letter queue. Given: a write the flush gave up on, or a message that
   * is no valid write, is sent there (as a {@link WriteDeadLetter}) and acked at once. Omitted: it is
   * retried, so the consumer's `max_retries` and `dead_letter_queue` in wrangler.toml take it.
   */
  deadLetter?: QueueProducer;
  /**
   * Producer binding of this same queue (e.g. `env.WRITES`). Given: a write Postgres could not judge
   * (unreachable, timed out, its table not there yet: core's `held`), or one given up on whose cached
   * copy L2 could not withdraw yet (core's `withdrawing`, dead-lettered once it can), is sent again
   * as a new message, after the retry delay, and its delivery acked, so an outage never counts
   * against `max_retries`.
   * Omitted: it is retried, and an outage longer than the retries (2 + 4 + 8 + 16 + 32 s with
   * `max_retries = 5`) moves acknowledged writes to the `dead_letter_queue` as they are, while L2
   * keeps serving them as written. A failed send falls back to a retry.
   */
  requeue?: QueueProducer;
  /** Seconds before a retried message comes back, by its deliveries before this one. Default {@link defaultRetryDelay}. */
  retryDelay?: (attempts: number) => number;
  /**
   * Where a message no Strata flushes (`unroutable`) and a tenant's failed flush are logged.
   * Default `consoleLogger('warn')`: the Worker's logs (`wrangler tail`).
   */
  logger?: Logger;
}

/** A message no Strata of the handler flushes: retried (a rolling deploy may bring its Strata). */
export interface UnroutableMessage {
  readonly id: string;
  readonly write: QueuedWrite;
  /** SCHEMA_NOT_FOUND; `details` name the message's table (`schema`) and `keyPrefix`. */
  readonly error: StrataError;
}

/** One message the batch could not apply. */
export interface DeadMessage {
  readonly id: string;
  /** `null`: the message was no valid write (malformed). */
  readonly write: QueuedWrite | null;
  readonly reason: string;
  /** Sent to `deadLetter` and acked; false: retried instead (no binding, or sending it failed). */
  readonly sent: boolean;
}

/** What became of each message of a batch, by message id. */
export interface WriteBatchResult {
  /** In L3 (applied, superseded by a newer write, or already applied before): acked. */
  acked: string[];
  /**
   * Failed for a reason that may pass (L3 unreachable, retries left, or a write given up on whose
   * cached copy L2 did not withdraw yet: dead-lettered once it does): retried with a delay.
   */
  retried: string[];
  /** Held (L3 could not judge them) and sent again as new messages through `requeue`: acked. */
  requeued: string[];
  dead: DeadMessage[];
  /** Also in `retried`: messages of a tenant or table no Strata given flushes, each with its typed error. */
  unroutable: UnroutableMessage[];
}

/**
 * The body of a Worker's `queue()` handler for write-behind: validates each message, hands the
 * writes to `strata.flushBatch` (coalescing, versioned apply, poison isolation all live in core) and
 * settles every message by the outcome. A malformed message never blocks the others. Nothing is
 * settled before the flushes return.
 *
 * Several tenants (apps) on one Queue: pass their Strata instances, or a resolver from a message's
 * route (its qualified table and its writer's keyPrefix) to the tenant's Strata. Each message goes
 * to the one Strata that flushes it (`flushRouted` of `@strata/core/driver`); one that none does is
 * never applied to another tenant's table: it is retried, listed in `unroutable` with a
 * SCHEMA_NOT_FOUND, and logged (`options.logger`). Past `max_retries` the platform moves it to the
 * consumer's `dead_letter_queue` (or deletes it when there is none).
 *
 * Give the consumer `max_retries` >= the Strata's `writeBehind.maxRetry` so the flush, not the
 * platform, decides when a write is poison and the dead letter says why.
 *
 * @example
 * export default {
 *   async queue(batch, env) {
 *     await handleWriteBatch(strataFor(env), batch, { deadLetter: env.WRITES_DLQ });
 *   },
 * } satisfies ExportedHandler<Env>;
 * @example
 * // One Worker, one Queue, a tenant per keyPrefix (each on its own database or Postgres schema)
 * async queue(batch, env) {
 *   await handleWriteBatch(({ keyPrefix }) => tenantStrata(env, keyPrefix), batch); // undefined: not ours
 * }
 */
export async function handleWriteBatch(
  target: FlushTarget,
  batch: QueueBatch,
  options: HandleWriteBatchOptions = {},
): Promise<WriteBatchResult> {
  const retryDelay = options.retryDelay ?? defaultRetryDelay;
  const messages = new Map(batch.messages.map((msg) => [msg.id, msg]));
  const deliveries: Delivery[] = [];
  const letters: WriteDeadLetter[] = [];
  for (const msg of batch.messages) {
    // The platform counts this delivery (1 on the first); a Delivery, the ones before it.
    const attempts = Math.max(0, msg.attempts - 1);
    try {
      deliveries.push({ handle: msg.id, write: readWrite(msg.body), attempts });
    } catch (err) {
      const problem = err instanceof Error ? err.message.replace(/^strata: /, '') : String(err);
      const reason = `malformed: ${problem}`;
      letters.push({
        handle: msg.id,
        write: null,
        raw: rawText(msg.body),
        reason,
        attempts: triesMade({ attempts }),
      });
    }
  }
  const logger = options.logger ?? consoleLogger('warn');
  const outcome = deliveries.length > 0 ? await flushRouted(target, deliveries, logger) : undefined;
  // Recorded withdrawn in Postgres: once their dead letter is sent, the withdrawal may be cleaned up.
  const withdrawn = new Set<string>();
  for (const { delivery, reason, withdrawn: recorded } of outcome?.dead ?? []) {
    // The tries made, this one counted: the message's own `attempts` (and the dead letter's in core).
    letters.push({ handle: delivery.handle, write: delivery.write, reason, attempts: triesMade(delivery) });
    if (recorded) withdrawn.add(delivery.handle);
  }

  const settled = new Set<string>();
  const ack = (msg: QueueMessage) => {
    settled.add(msg.id);
    msg.ack();
  };
  const retry = (msg: QueueMessage) => {
    settled.add(msg.id);
    msg.retry({ delaySeconds: clampDelay(retryDelay(Math.max(0, msg.attempts - 1))) });
  };
  const result: WriteBatchResult = { acked: [], retried: [], requeued: [], dead: [], unroutable: [] };
  for (const { delivery, error } of outcome?.unroutable ?? []) {
    result.unroutable.push({ id: delivery.handle, write: delivery.write, error });
  }
  const settleAll = (ids: readonly string[], settle: (msg: QueueMessage) => void, into: string[]) => {
    for (const id of ids) {
      const msg = messages.get(id);
      if (!msg) continue;
      settle(msg);
      into.push(id);
    }
  };
  settleAll(outcome?.acked ?? [], ack, result.acked);
  const held = new Set(options.requeue ? (outcome?.held ?? []) : []);
  const again = await requeueHeld(options.requeue, deliveries, held, logger, (d) =>
    clampDelay(retryDelay(d.attempts)),
  );
  settleAll([...again], ack, result.requeued);
  settleAll(
    (outcome?.retried ?? []).filter((id) => !again.has(id)),
    retry,
    result.retried,
  );
  const sent = await sendDeadLetters(options.deadLetter, letters);
  for (const letter of letters) {
    const msg = messages.get(letter.handle);
    if (!msg) continue;
    const delivered = sent.has(msg.id);
    if (delivered) ack(msg);
    else retry(msg);
    result.dead.push({ id: msg.id, write: letter.write, reason: letter.reason, sent: delivered });
  }
  const stored = letters.flatMap((l) =>
    l.write && withdrawn.has(l.handle) && sent.has(l.handle) ? [l.write] : [],
  );
  if (stored.length > 0) await deadLettersSentRouted(target, stored);
  // The platform acks a message left unsettled when the handler returns: never let that drop a write.
  for (const msg of batch.messages) if (!settled.has(msg.id)) retry(msg);
  return result;
}

/**
 * Sends the held deliveries' writes again as new messages (each after its retry delay), batch by
 * batch; resolves the handles that got through. A batch that fails is left out: those are retried.
 */
async function requeueHeld(
  binding: QueueProducer | undefined,
  deliveries: readonly Delivery[],
  held: ReadonlySet<string>,
  logger: Logger,
  delayOf: (delivery: Delivery) => number,
): Promise<Set<string>> {
  const sent = new Set<string>();
  const going = deliveries.filter((d) => held.has(d.handle));
  if (!binding || going.length === 0) return sent;
  let batches: Delivery[][];
  try {
    batches = planBatches(going, 'requeue');
  } catch {
    return sent; // one over the message limit: it came as a message, so never; retried
  }
  for (const batch of batches) {
    try {
      await binding.sendBatch(
        batch.map((d) => ({ body: d.write, contentType: 'json' as const, delaySeconds: delayOf(d) })),
      );
      for (const d of batch) sent.add(d.handle);
    } catch (err) {
      // Retried instead: the platform's max_retries then counts these deliveries.
      logger.warn('write-behind: requeue failed, the writes are retried', {
        writes: batch.length,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return sent;
}

/** A JSON message carries the write as an object; a text one (sent by hand) as its JSON. */
function readWrite(body: unknown): QueuedWrite {
  return typeof body === 'string' ? decodeQueuedWrite(body) : parseQueuedWrite(body);
}

function rawText(body: unknown): string {
  if (typeof body === 'string') return body;
  try {
    return JSON.stringify(body) ?? String(body);
  } catch {
    return String(body);
  }
}

/**
 * Sends the dead letters within the platform's limits, batch by batch; resolves the handles that
 * got through. A batch that fails (or letters that cannot be sent at all) is left out: those
 * messages are retried instead, so a dead-letter queue outage loses nothing.
 */
async function sendDeadLetters(
  binding: QueueProducer | undefined,
  letters: readonly WriteDeadLetter[],
): Promise<Set<string>> {
  const sent = new Set<string>();
  if (!binding || letters.length === 0) return sent;
  let batches: WriteDeadLetter[][];
  try {
    batches = planBatches(letters, 'dead letters');
  } catch {
    return sent;
  }
  for (const batch of batches) {
    try {
      await binding.sendBatch(batch.map((body) => ({ body, contentType: 'json' as const })));
      for (const letter of batch) sent.add(letter.handle);
    } catch {
      // Retried below; the next batch may still get through.
    }
  }
  return sent;
}
