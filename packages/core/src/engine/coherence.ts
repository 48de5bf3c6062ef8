import { MAX_INVALIDATION_IDS } from '../bus/message.js';
import type { Invalidation, InvalidationBus } from '../bus/types.js';
import type { EngineContext } from './context.js';
import type { SchemaRuntime } from './schema-runtime.js';

/**
 * Keeps this instance's L1 coherent with the others through the invalidation bus: publishes one
 * message per write batch, drops what other instances wrote, clears everything on a gap, and pulls
 * the log (for isolates that cannot subscribe) at most every `invalidationPollMs` before a read.
 */
export class Coherence {
  readonly #bus: InvalidationBus | undefined;
  #subscribed: Promise<void> | undefined;
  #lastPoll = Number.NEGATIVE_INFINITY;
  #polling: Promise<void> | undefined;
  applied = 0;
  gaps = 0;

  constructor(
    readonly ctx: EngineContext,
    readonly lookup: (schema: string) => SchemaRuntime | undefined,
    readonly all: () => SchemaRuntime[],
  ) {
    this.#bus = ctx.config.bus;
    if (this.#bus) {
      this.#subscribed = this.#bus
        .subscribe({ message: (inv) => this.#apply(inv), gap: () => this.#gap() })
        .then(
          () => {
            this.#subscribed = undefined;
          },
          (err: unknown) => {
            this.#subscribed = undefined;
            this.#failed('subscribe', err);
          },
        );
    }
  }

  /**
   * Work to await before a read, or undefined when there is none (the common case: no await on
   * the L1 hot path). Waits for the subscription once; pulls the log when it is due.
   */
  /** Whether `beforeRead` would hand out work now (a subscription to wait for, a poll due or running). */
  mustWait(): boolean {
    if (this.#subscribed || this.#polling) return true;
    if (!this.#bus?.poll) return false;
    return this.ctx.config.clock.now() - this.#lastPoll >= this.ctx.config.invalidationPollMs;
  }

  beforeRead(): Promise<void> | undefined {
    if (this.#subscribed) return this.#subscribed.then(() => this.beforeRead());
    const bus = this.#bus;
    if (!bus?.poll) return undefined;
    if (this.#polling) return this.#polling;
    const now = this.ctx.config.clock.now();
    if (now - this.#lastPoll < this.ctx.config.invalidationPollMs) return undefined;
    this.#lastPoll = now;
    this.#polling = bus
      .poll()
      .catch((err: unknown) => this.#failed('poll', err))
      .finally(() => {
        this.#polling = undefined;
      });
    return this.#polling;
  }

  /** Tells the other instances; a failure is counted and logged, never thrown at the writer. */
  async publish(schema: string, ids: readonly string[] | null, op: Invalidation['op']): Promise<void> {
    const bus = this.#bus;
    if (!bus || (ids !== null && ids.length === 0)) return;
    // Receivers drop messages with more ids than they accept: a bigger batch clears the schema instead.
    const sent = ids !== null && ids.length > MAX_INVALIDATION_IDS ? null : ids;
    const message: Invalidation = { schema, ids: sent, op, origin: this.ctx.config.instanceId };
    await this.ctx.defer(schema, 'l2', 'publish', () => bus.publish(message));
  }

  async close(): Promise<void> {
    await this.#bus?.close();
  }

  #apply(inv: Invalidation): void {
    if (inv.origin === this.ctx.config.instanceId) return;
    const rt = this.lookup(inv.schema);
    if (!rt) return;
    this.applied += 1;
    if (inv.ids === null) {
      rt.inflight.clear();
      rt.l1?.clear();
      rt.resetGeneration();
      return;
    }
    for (const id of inv.ids) {
      // Fenced like a local write: a read in flight here must not put back what was just dropped.
      rt.fence.beginWrite(id);
      rt.inflight.delete(id);
      rt.l1?.delete(id);
      rt.fence.endWrite(id);
    }
  }

  #gap(): void {
    this.gaps += 1;
    for (const rt of this.all()) {
      rt.inflight.clear();
      rt.l1?.clear();
      rt.resetGeneration();
    }
  }

  #failed(what: string, err: unknown): void {
    this.ctx.counters.error('bus');
    this.ctx.config.logger.warn(`invalidation bus ${what} failed`, {
      bus: this.#bus?.name,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}
