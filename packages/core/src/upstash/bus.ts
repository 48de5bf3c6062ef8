import type { Redis } from '@upstash/redis';
import { backoffDelay, sleep } from '../bus/backoff.js';
import { BusDelivery } from '../bus/delivery.js';
import type { BusHandlers, BusStats, Invalidation, InvalidationBus } from '../bus/types.js';
import { StrataError } from '../errors.js';
import { upstashClient } from './client.js';
import { readSseData } from './sse-reader.js';

export interface UpstashSseBusOptions {
  /** The Upstash REST URL and token: the subscription is a streaming request to `{url}/subscribe/{channel}`. */
  url: string;
  token: string;
  /** Default 'strata:invalidate' as in the Go library Strata. */
  channel?: string;
  /** Publishes through this client; default one built from `url` and `token`. */
  redis?: Redis;
  /** No subscribe confirmation within this long: abort and retry. Default 10,000. */
  connectTimeoutMs?: number;
  /** Reconnect backoff: doubles from `min` to `max` ms, with jitter. Default 100 .. 5,000. */
  reconnectDelayMs?: { min?: number; max?: number };
}

/** A stream that never ends a line is cut here; a valid message is far smaller (see message.ts). */
const MAX_LINE_CHARS = 17 * 1024 * 1024;

/**
 * The invalidation bus for long-lived processes that reach Redis only over HTTP (Upstash REST):
 * `publish` is one `PUBLISH`; the subscription is one streaming `fetch` read as Server-Sent Events.
 * When the stream ends or fails it reconnects with backoff and, once subscribed again, calls
 * `gap()` (messages published meanwhile were missed). `subscribe()` resolves at the first
 * confirmation, or rejects if the first attempt fails — the bus keeps retrying after that, and
 * calls `gap()` when it gets through. `close()` aborts the request and clears every timer.
 * Web APIs only (`fetch`, `ReadableStream`, `TextDecoder`, `AbortController`).
 *
 * @example
 * import { createUpstashSseBus } from '@strata/core/upstash';
 * const bus = createUpstashSseBus({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN });
 * const strata = new Strata({ l2, l3, coherence: { bus } });
 * // on shutdown
 * await strata.close(); // closes the bus
 */
export function createUpstashSseBus(options: UpstashSseBusOptions): InvalidationBus {
  return new UpstashSseBus(options);
}

class UpstashSseBus implements InvalidationBus {
  readonly name = 'upstash-sse';
  readonly #delivery = new BusDelivery(this.name);
  readonly #redis: Redis;
  readonly #channel: string;
  readonly #endpoint: string;
  readonly #token: string;
  readonly #connectTimeoutMs: number;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  /** Aborted by close(): ends a backoff wait at once. */
  readonly #lifetime = new AbortController();
  #attempt: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: UpstashSseBusOptions) {
    this.#channel = options.channel ?? 'strata:invalidate';
    this.#redis = upstashClient(options.redis ? { redis: options.redis } : options);
    this.#endpoint = `${options.url.replace(/\/+$/, '')}/subscribe/${pathSegment(this.#channel)}`;
    this.#token = options.token;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#minDelayMs = options.reconnectDelayMs?.min ?? 100;
    this.#maxDelayMs = options.reconnectDelayMs?.max ?? 5_000;
  }

  publish(invalidation: Invalidation): Promise<void> {
    return this.#delivery.publish(invalidation, (payload) => this.#redis.publish(this.#channel, payload));
  }

  subscribe(handlers: BusHandlers): Promise<void> {
    return this.#delivery.subscribe(
      handlers,
      () =>
        new Promise((resolve, reject) => {
          this.#loop = this.#run(resolve, reject);
        }),
    );
  }

  stats(): BusStats {
    return this.#delivery.stats();
  }

  close(): Promise<void> {
    return this.#delivery.closeOnce(async () => {
      this.#lifetime.abort();
      this.#attempt?.abort();
      await this.#loop;
    });
  }

  /** Listens, reconnecting until closed. Settles subscribe() once; never rejects itself. */
  async #run(subscribed: () => void, failed: (error: unknown) => void): Promise<void> {
    let settled = false;
    let failures = 0;
    const onConfirmed = () => {
      failures = 0;
      if (settled) this.#delivery.gap();
      else {
        settled = true;
        subscribed();
      }
    };
    while (!this.#delivery.closed) {
      let failure: unknown = new StrataError(
        'L2_UNAVAILABLE',
        'the subscribe stream ended before it was confirmed',
      );
      try {
        await this.#listen(onConfirmed);
      } catch (error) {
        failure = error;
      }
      if (this.#delivery.closed) break;
      if (!settled) {
        settled = true;
        failed(unavailable(failure));
      }
      failures += 1;
      await sleep(
        backoffDelay(failures, this.#minDelayMs, this.#maxDelayMs),
        this.#lifetime.signal,
        this.#delivery.timer,
      );
    }
    if (!settled) failed(unavailable(new Error('closed before the subscription was confirmed')));
  }

  /** One subscription request, until its stream ends. */
  async #listen(onConfirmed: () => void): Promise<void> {
    const attempt = new AbortController();
    this.#attempt = attempt;
    let confirmed = false;
    // Checks `confirmed`: a host's timer may not cancel (`Scheduler.after`), and the task would then
    // abort the live subscription once its deadline passed.
    const cancel = this.#delivery.timer(this.#connectTimeoutMs, () => {
      if (!confirmed)
        attempt.abort(
          new StrataError('TIMEOUT', `no subscribe confirmation in ${this.#connectTimeoutMs} ms`),
        );
    });
    try {
      const response = await fetch(this.#endpoint, {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.#token}`, Accept: 'text/event-stream' },
        signal: attempt.signal,
      });
      if (!response.ok || response.body === null) {
        const text = await response.text().catch(() => '');
        throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
      }
      const message = `message,${this.#channel},`;
      const confirmation = `subscribe,${this.#channel},`;
      await readSseData(
        response.body,
        (data) => {
          // The payload is everything after the channel: it may contain commas (JSON does).
          if (data.startsWith(message)) this.#delivery.payload(data.slice(message.length));
          else if (data.startsWith(confirmation)) {
            confirmed = true;
            cancel();
            onConfirmed();
          }
        },
        MAX_LINE_CHARS,
      );
    } finally {
      cancel();
      this.#attempt = undefined;
    }
  }
}

function unavailable(cause: unknown): StrataError {
  return new StrataError('L2_UNAVAILABLE', 'upstash-sse: could not subscribe', { cause });
}

/** Percent-encodes what would break the path, but keeps ':' and '@' as the official client sends them. */
function pathSegment(channel: string): string {
  return encodeURIComponent(channel).replace(/%3A/gi, ':').replace(/%40/gi, '@');
}
