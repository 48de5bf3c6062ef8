import { MAX_INVALIDATION_IDS } from '../bus/message.js';
import type { Invalidation, InvalidationBus } from '../bus/types.js';
import { isStrataError } from '../errors.js';
import { withTimeout } from '../resilience/with-timeout.js';
import type { EngineContext } from './context.js';
import type { SchemaRuntime } from './schema-runtime.js';
import { UnsentInvalidations } from './unsent-invalidations.js';

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
  readonly #unsent = new UnsentInvalidations();
  /** A poll past its deadline and not settled yet. */
  #stuckPoll: Promise<void> | undefined;
  applied = 0;
  gaps = 0;

  constructor(
    readonly ctx: EngineContext,
    readonly lookup: (schema: string) => SchemaRuntime | undefined,
    readonly all: () => SchemaRuntime[],
  ) {
    this.#bus = ctx.config.bus;
    if (this.#bus) {
      const subscribing = this.#bus.subscribe({ message: (inv) => this.#apply(inv), gap: () => this.#gap() });
      // Reads wait for the subscription at most the deadline; it may still complete later.
      this.#subscribed = withTimeout(subscribing, this.#deadlineMs, `${this.#bus.name} subscribe`).then(
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

  /** Whether `beforeRead` would hand out work now (a subscription to wait for, a poll due or running). */
  mustWait(): boolean {
    if (this.#subscribed || this.#polling) return true;
    if (!this.#bus?.poll || this.#stuckPoll) return false;
    return this.ctx.config.clock.now() - this.#lastPoll >= this.ctx.config.invalidationPollMs;
  }

  /**
   * Work to await before a read, or undefined when there is none (the common case: no await on
   * the L1 hot path). Waits for the subscription once; pulls the log when it is due. Every bus call
   * has the L2 deadline: a bus that hangs makes reads stale (counted), never stuck.
   */
  beforeRead(): Promise<void> | undefined {
    if (this.#subscribed) return this.#subscribed.then(() => this.beforeRead());
    const bus = this.#bus;
    if (!bus?.poll) return undefined;
    if (this.#polling) return this.#polling;
    // A poll that outlived its deadline is still out: reads do not queue behind it again.
    if (this.#stuckPoll) return undefined;
    const now = this.ctx.config.clock.now();
    if (now - this.#lastPoll < this.ctx.config.invalidationPollMs) return undefined;
    this.#lastPoll = now;
    const poll = bus.poll();
    this.#polling = withTimeout(poll, this.#deadlineMs, `${bus.name} poll`)
      .then(() => this.#resendUnsent(bus))
      .catch((err: unknown) => {
        if (isStrataError(err, 'TIMEOUT')) {
          this.#stuckPoll = poll;
          const clear = () => {
            if (this.#stuckPoll === poll) this.#stuckPoll = undefined;
          };
          poll.then(clear, clear);
        }
        this.#failed('poll', err);
      })
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
    await this.ctx.defer(schema, 'l2', 'publish', () => this.#send(bus, message));
  }

  /**
   * Publishes what earlier publishes could not, then `message`; whatever fails is kept for the next
   * successful bus call (a publish, a poll, close). One request per message: none kept, one request.
   */
  async #send(bus: InvalidationBus, message?: Invalidation): Promise<void> {
    const batch = [...this.#unsent.take(), ...(message ? [message] : [])];
    for (const [i, m] of batch.entries()) {
      try {
        await withTimeout(bus.publish(m), this.#deadlineMs, `${bus.name} publish`);
      } catch (err) {
        for (const left of batch.slice(i)) this.#unsent.keep(left);
        throw err;
      }
    }
  }

  /** After a bus call that worked: the kept messages go out now, in the background. */
  #resendUnsent(bus: InvalidationBus): void {
    const schema = this.#unsent.firstSchema();
    if (schema === undefined) return;
    void this.ctx.defer(schema, 'l2', 'republish', () => this.#send(bus));
  }

  async close(): Promise<void> {
    const bus = this.#bus;
    if (bus && this.#unsent.size > 0)
      await this.#send(bus).catch((err: unknown) => this.#failed('republish', err));
    await bus?.close();
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

  /** Bus calls are remote calls to (usually) the same Redis as L2: the L2 deadline. */
  get #deadlineMs(): number {
    return this.ctx.config.l2TimeoutMs;
  }

  #failed(what: string, err: unknown): void {
    this.ctx.counters.error('bus');
    this.ctx.config.logger.warn(`invalidation bus ${what} failed`, {
      bus: this.#bus?.name,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}
