import { StrataError } from '../errors.js';
import { type OneShot, runtimeTimer } from '../resilience/wait.js';
import { decodeInvalidation, encodeInvalidation, ownPrefix } from './message.js';
import type { BusHandlers, BusStats, Invalidation } from './types.js';

/**
 * What every bus does with what it receives, so all of them count and drop the same way: decode,
 * hand a valid message to the handlers, count a malformed one as dropped, count gaps. Nothing is
 * delivered before `attach` or after `close`. A bus's own `publish`, `subscribe` and `close` wrap
 * only its wire in {@link publish}, {@link subscribe} and {@link closeOnce}, so the checks and
 * counts around them are the same for every bus.
 *
 * @example
 * const delivery = new BusDelivery('my-bus');
 * delivery.attach({ message: (inv) => console.log(inv), gap: () => l1.clear() });
 * delivery.payload('{"schema":"users","id":"42","op":"set"}'); // message() called
 * delivery.payload('garbage'); // stats().dropped === 1
 */
export class BusDelivery {
  readonly #bus: string;
  #handlers: BusHandlers | undefined;
  /** `ownPrefix` of the handlers' origin: raw text starting with it is this instance's echo. */
  #own: string | undefined;
  #closed = false;
  #published = 0;
  #received = 0;
  #dropped = 0;
  #gaps = 0;
  #closing: Promise<void> | undefined;

  constructor(bus: string) {
    this.#bus = bus;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The timer the bus's own deadlines and waits run on: the handlers' (see `BusHandlers.timer`), else the runtime's. */
  get timer(): OneShot {
    return this.#handlers?.timer ?? runtimeTimer;
  }

  /** True once handlers are attached and until close. */
  get active(): boolean {
    return this.#handlers !== undefined && !this.#closed;
  }

  /** Throws when closed or already attached: a bus delivers to one set of handlers. */
  attach(handlers: BusHandlers): void {
    this.assertOpen('subscribe');
    if (this.#handlers !== undefined) {
      throw new StrataError(
        'INVALID_CONFIG',
        `invalidation bus ${this.#bus}: subscribe() was already called`,
        {
          details: { bus: this.#bus },
        },
      );
    }
    this.#handlers = handlers;
    this.#own = handlers.origin === undefined ? undefined : ownPrefix(handlers.origin);
  }

  /** Throws `L2_UNAVAILABLE` after close (the engine counts bus failures as L2 failures). */
  assertOpen(op: string): void {
    if (this.#closed) {
      throw new StrataError('L2_UNAVAILABLE', `invalidation bus ${this.#bus} is closed`, {
        details: { bus: this.#bus, op },
      });
    }
  }

  /** Counts `count` messages sent (by the bus, or by a write script on its behalf). */
  published(count = 1): void {
    this.#published += count;
  }

  /**
   * Encodes `invalidation`, hands it to `send` (the bus's one round trip) and counts it once sent.
   * Rejects with `L2_UNAVAILABLE` after close, or with what `send` rejected with.
   */
  async publish(invalidation: Invalidation, send: (payload: string) => Promise<unknown>): Promise<void> {
    this.assertOpen('publish');
    await send(encodeInvalidation(invalidation));
    this.published();
  }

  /**
   * Attaches `handlers`, then runs `start` (open the subscription, or set the cursor) and settles
   * like it. Rejects without calling `start` when closed or already attached.
   */
  subscribe(handlers: BusHandlers, start: () => Promise<void>): Promise<void> {
    try {
      this.attach(handlers);
    } catch (error) {
      return Promise.reject(error);
    }
    return start();
  }

  /**
   * One raw message off the wire. This instance's own echo (its origin's prefix, see
   * `BusHandlers.origin`) is counted as received and goes no further: a write-behind `set` with
   * the pub/sub bus hears its own message once per call, and decoding it only to drop it by origin
   * cost more than the check.
   */
  payload(raw: unknown): void {
    const handlers = this.#handlers;
    if (handlers === undefined || this.#closed) return;
    const own = this.#own;
    if (own !== undefined && typeof raw === 'string' && raw.startsWith(own)) {
      this.#received += 1;
      return;
    }
    const invalidation = decodeInvalidation(raw);
    if (invalidation === undefined) {
      this.#dropped += 1;
      return;
    }
    this.#received += 1;
    // A throwing handler must not stop the bus or the messages after this one.
    try {
      handlers.message(invalidation);
    } catch {}
  }

  gap(): void {
    const handlers = this.#handlers;
    if (handlers === undefined || this.#closed) return;
    this.#gaps += 1;
    try {
      handlers.gap();
    } catch {}
  }

  close(): void {
    this.#closed = true;
    this.#handlers = undefined;
  }

  /**
   * A bus's `close()`: stops delivery at once, then runs `release` (what the bus opened itself)
   * only the first time. Every call returns that one promise, so close is idempotent and a second
   * caller waits for the first to finish.
   */
  closeOnce(release: () => Promise<void> = async () => {}): Promise<void> {
    this.#closing ??= (async () => {
      this.close();
      await release();
    })();
    return this.#closing;
  }

  stats(): BusStats {
    return { published: this.#published, received: this.#received, dropped: this.#dropped, gaps: this.#gaps };
  }
}
