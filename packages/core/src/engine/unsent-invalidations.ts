import type { Invalidation } from '../bus/types.js';

/** Past this many unsent messages, they collapse to one whole-schema message per schema. */
const MAX_UNSENT = 100;

/**
 * Invalidations this instance could not publish (the bus was down or past its deadline), to send
 * again with the next successful bus call: without them the other instances would keep their L1
 * copies of those rows until the L1 TTL. Bounded: many of them become one "drop the whole schema"
 * per schema, which says at least as much (tag moves: one for the app's tags, `*tags:{keyPrefix}`,
 * which receivers take as "any tag may have moved"). Held in memory: a crash loses them (then the TTL bounds it).
 */
export class UnsentInvalidations {
  #messages: Invalidation[] = [];
  /** Sends under way (see `sending`). */
  readonly #sending = new Set<Sending>();

  get size(): number {
    return this.#messages.length;
  }

  /** The schema of the oldest kept message (for logs and counts), or undefined when none is kept. */
  firstSchema(): string | undefined {
    return this.#messages[0]?.schema;
  }

  keep(message: Invalidation): void {
    this.#messages.push(message);
    if (this.#messages.length <= MAX_UNSENT) return;
    const schemas = new Map<string, Invalidation>();
    for (const m of this.#messages) {
      // Still this app's message (`app`): the other apps on the channel keep ignoring it.
      const app = m.app !== undefined ? { app: m.app } : {};
      schemas.set(m.schema, { schema: m.schema, ids: null, op: 'invalidateAll', origin: m.origin, ...app });
    }
    this.#messages = [...schemas.values()];
  }

  /** Everything kept so far, oldest first; the store is empty afterwards. */
  take(): Invalidation[] {
    const taken = this.#messages;
    this.#messages = [];
    return taken;
  }

  /** `messages` go out one by one from now (`now`: on `ctx.waits`); the send moves `next` and `at` on as it does. */
  sending(messages: Invalidation[], now: number): Sending {
    const send: Sending = { messages, next: 0, at: now };
    this.#sending.add(send);
    return send;
  }

  /** The send is over; false when `reclaim` took its messages already (then it keeps none itself). */
  sent(send: Sending): boolean {
    return this.#sending.delete(send);
  }

  /**
   * Sends whose current publish is out longer than `ms`: what they had not published yet is kept,
   * to go with the next bus call; true when there was any. In a Worker a publish begun by a request
   * that ended is cancelled with it and never settles, nor does its deadline fire: it would never
   * be kept, and the other instances would keep the old rows in L1 until its TTL. What of it went
   * through after all is sent twice (dropping an L1 entry twice drops nothing more).
   */
  reclaim(now: number, ms: number): boolean {
    let any = false;
    for (const send of this.#sending) {
      if (now - send.at < ms) continue;
      this.#sending.delete(send);
      for (const m of send.messages.slice(send.next)) this.keep(m);
      any = true;
    }
    return any;
  }
}

/** A send under way: `messages[next]` sent at `at` (on `ctx.waits`), those after it not yet. */
export interface Sending {
  readonly messages: Invalidation[];
  next: number;
  at: number;
}
