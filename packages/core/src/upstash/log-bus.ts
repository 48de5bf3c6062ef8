import type { Redis } from '@upstash/redis';
import { BusDelivery } from '../bus/delivery.js';
import type { BusHandlers, BusStats, Invalidation, InvalidationBus } from '../bus/types.js';
import { StrataError } from '../errors.js';
import { waitShared } from '../resilience/bounded-share.js';
import { type UpstashBusSource, upstashClient } from './client.js';
import { endOf, type LogCursor, nextLogStep } from './log-cursor.js';
import { LOG_READ_SCRIPT, type LogSnapshot, parseLogReply } from './log-script.js';

export type UpstashLogBusOptions = UpstashBusSource & {
  /** The Redis stream holding the log. Default 'strata:invalidate:log'. */
  stream?: string;
  /**
   * The log keeps about this many messages (`XADD … MAXLEN ~`). An isolate that falls further behind
   * than that sees a gap and clears its L1. Default 10,000.
   */
  maxLen?: number;
  /** Entries read per request; a full page is followed by another read in the same poll. Default 1,000. */
  batchSize?: number;
};

/**
 * The invalidation bus for isolates that cannot hold a subscription (Workers): a capped Redis
 * Stream over Upstash REST. `publish` is one `XADD <stream> MAXLEN ~ <maxLen> * m <json>`;
 * `subscribe` only sets the cursor to the end of the log (history is not delivered); `poll` reads
 * what came after the cursor in one request (a Lua script that also tells whether the log was trimmed
 * past the cursor — then `gap()` and the cursor jumps to the end). Concurrent polls share one
 * request; how often to poll is the engine's call (`coherence.pollInterval`).
 *
 * @example
 * import { createUpstashLogBus } from '@strata/core/upstash';
 * const bus = createUpstashLogBus({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN });
 * const strata = new Strata({ l2, l3, coherence: { bus, pollInterval: '1s' } });
 */
/** How long a read in flight is shared with later polls (see `#shared`). */
const SHARE_MS = 1_000;

export function createUpstashLogBus(options: UpstashLogBusOptions): InvalidationBus {
  const maxLen = options.maxLen ?? 10_000;
  const batchSize = options.batchSize ?? 1_000;
  for (const [name, value] of [
    ['maxLen', maxLen],
    ['batchSize', batchSize],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new StrataError('INVALID_CONFIG', `createUpstashLogBus: ${name} must be a positive integer`, {
        details: { [name]: value },
      });
    }
  }
  return new UpstashLogBus(
    upstashClient(options),
    options.stream ?? 'strata:invalidate:log',
    maxLen,
    batchSize,
  );
}

class UpstashLogBus implements InvalidationBus {
  readonly name = 'upstash-log';
  readonly #delivery = new BusDelivery(this.name);
  readonly #redis: Redis;
  readonly #stream: string;
  readonly #maxLen: number;
  readonly #batchSize: number;
  /** Undefined until subscribe has read where the log ends (or after it failed to). */
  #cursor: LogCursor | undefined;
  /** The read in flight, shared by concurrent polls (and by a poll during subscribe), and when it began. */
  #polling: Promise<void> | undefined;
  #pollingAt = 0;

  constructor(redis: Redis, stream: string, maxLen: number, batchSize: number) {
    this.#redis = redis;
    this.#stream = stream;
    this.#maxLen = maxLen;
    this.#batchSize = batchSize;
  }

  publish(invalidation: Invalidation): Promise<void> {
    return this.#delivery.publish(invalidation, (payload) =>
      this.#redis.xadd(
        this.#stream,
        '*',
        { m: payload },
        { trim: { type: 'MAXLEN', comparison: '~', threshold: this.#maxLen } },
      ),
    );
  }

  subscribe(handlers: BusHandlers): Promise<void> {
    return this.#delivery.subscribe(handlers, () => this.#shared(() => this.#sync(false)));
  }

  poll(): Promise<void> {
    if (!this.#delivery.active) return Promise.resolve();
    // After a failed subscribe nobody knows what was missed: start from the end, as a gap.
    return this.#shared(() => (this.#cursor === undefined ? this.#sync(true) : this.#drain(this.#cursor)));
  }

  stats(): BusStats {
    return this.#delivery.stats();
  }

  close(): Promise<void> {
    // Nothing to release (stateless HTTP); a poll in flight delivers nothing once closed.
    return this.#delivery.closeOnce();
  }

  /**
   * The read in flight is shared until SHARE_MS after it began, on the caller's own timer; past it,
   * a read of the caller's own: in a Worker, a request's fetch is cancelled when the request ends
   * and never settles, and sharing it would end this isolate's polling. Reads from one cursor are
   * idempotent (a message delivered twice drops an entry twice).
   */
  #shared(work: () => Promise<void>): Promise<void> {
    const polling = this.#polling;
    if (polling)
      return waitShared(
        polling,
        this.#pollingAt,
        SHARE_MS,
        () => {
          if (this.#polling === polling) this.#polling = undefined;
          return this.#shared(work);
        },
        // The bus has no engine clock: the host's timer, real time (a test fires the timer).
        { timer: this.#delivery.timer, now: Date.now },
      );
    const read = work().finally(() => {
      if (this.#polling === read) this.#polling = undefined;
    });
    this.#polling = read;
    this.#pollingAt = Date.now();
    return read;
  }

  /** Moves the cursor to the end of the log without delivering what is before it. */
  async #sync(gap: boolean): Promise<void> {
    const log = await this.#read('');
    if (!this.#delivery.active) return;
    this.#cursor = endOf(log);
    if (gap) this.#delivery.gap();
  }

  async #drain(cursor: LogCursor): Promise<void> {
    for (let from = cursor; ; ) {
      const log = await this.#read(from.id);
      if (!this.#delivery.active) return;
      const step = nextLogStep(from, log, this.#batchSize);
      from = step.cursor;
      this.#cursor = from;
      if (step.kind === 'gap') {
        this.#delivery.gap();
        return;
      }
      for (const entry of step.entries) this.#delivery.payload(entry.payload);
      if (!step.more) return;
    }
  }

  async #read(cursor: string): Promise<LogSnapshot> {
    // EVAL_RO: read-only, so a read replica may serve it.
    const reply: unknown = await this.#redis.evalRo(
      LOG_READ_SCRIPT,
      [this.#stream],
      [cursor, String(this.#batchSize)],
    );
    return parseLogReply(reply);
  }
}
