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
}
