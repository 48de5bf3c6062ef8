import { encodeInvalidation, MAX_INVALIDATION_IDS } from '../bus/message.js';
import type { Invalidation, InvalidationBus } from '../bus/types.js';
import { isStrataError, messageOf, StrataError } from '../errors.js';
import { waitShared } from '../resilience/bounded-share.js';
import { wait } from '../resilience/wait.js';
import { withTimeout } from '../resilience/with-timeout.js';
import { applyRemote, forgetAll, tagsMoved } from './cache-forget.js';
import type { EngineContext } from './context.js';
import { hearReset } from './reset-told.js';
import type { SchemaCache } from './schema-cache.js';
import type { TagClock } from './tag-clock.js';
import { type Sending, UnsentInvalidations } from './unsent-invalidations.js';

/**
 * The largest message this instance sends (its JSON): a write batch whose ids would not fit drops
 * the whole schema from the other instances' L1 instead. Every bus carries it (a Redis Stream
 * entry, a pub/sub message, an Upstash request far below its 1 MB).
 */
const MAX_MESSAGE_CHARS = 256 * 1024;

/**
 * Whether receivers will take the message as it is: not more ids than they accept, and its JSON
 * within {@link MAX_MESSAGE_CHARS}. Anything else goes as a whole-schema message instead, never as
 * a message that fails to encode (kept and resent, it would hold back every later one).
 */
function fits(message: Invalidation): boolean {
  const ids = message.ids;
  if (ids === null) return true;
  if (ids.length > MAX_INVALIDATION_IDS) return false;
  let chars = 0;
  for (const id of ids) chars += id.length * 6 + 24;
  if (chars <= MAX_MESSAGE_CHARS) return true;
  try {
    return encodeInvalidation(message).length <= MAX_MESSAGE_CHARS;
  } catch {
    return false;
  }
}

/**
 * The `schema` of a tag move's message: tags are the app's, not one schema's, so it names the app
 * (`*tags:{keyPrefix}`). Apps sharing a channel must not learn each other's tag values: a value of
 * another app's counter would raise this one's stamps past its own later moves. A bare `*tags`
 * comes from an instance from before the app was named, taken as this app's during a rollout.
 */
const TAGS_SCHEMA = '*tags';
/** Asks about a reset heard within this long share one answer (see `Coherence#answerAgain`). */
const ASK_REPLY_MS = 25;

/** Deadlines a poll past its own may hold polling off (see `#stuck`): a hanging bus costs one read a deadline per this many. */
const STUCK_DEADLINES = 4;

/**
 * Keeps this instance's L1 coherent with the others through the invalidation bus: publishes one
 * message per write batch, drops what other instances wrote, clears everything on a gap, and pulls
 * the log (for isolates that cannot subscribe) at most every `coherence.pollInterval` before a read.
 */
export class Coherence {
  readonly #bus: InvalidationBus | undefined;
  #subscribed: Promise<void> | undefined;
  /** When `#subscribed` began (see `#waitFor`). */
  #subscribedAt = 0;
  #lastPoll = Number.NEGATIVE_INFINITY;
  #polling: Promise<void> | undefined;
  /** When `#polling` began. */
  #pollingAt = 0;
  readonly #unsent = new UnsentInvalidations();
  /** A poll past its deadline and not settled yet. */
  #stuckPoll: Promise<void> | undefined;
  /** When polling starts again whatever became of `#stuckPoll` (see `#stuck`). */
  #stuckUntil = 0;
  /** Schemas whose answer to asks goes out again shortly (see `#answerAgain`). */
  readonly #answering = new Set<SchemaCache>();
  #closed = false;
  applied = 0;
  gaps = 0;

  constructor(
    readonly ctx: EngineContext,
    readonly lookup: (identity: string) => SchemaCache | undefined,
    readonly all: () => SchemaCache[],
    readonly tagClock: () => TagClock | undefined = () => undefined,
  ) {
    this.#bus = ctx.config.coherence.bus;
    if (this.#bus) {
      const subscribing = this.#bus.subscribe({
        message: (inv) => this.#apply(inv),
        gap: () => this.#gap(),
        // Its own echoes dropped by the bus unread (`#apply` still filters an older wire form's).
        origin: ctx.config.instanceId,
        // The bus's own deadlines and waits on the host's timers too (a test drives them).
        timer: ctx.waits.timer,
      });
      // Reads wait for the subscription at most the deadline; it may still complete later.
      this.#subscribedAt = ctx.waits.now();
      this.#subscribed = withTimeout(
        subscribing,
        this.#deadlineMs,
        `${this.#bus.name} subscribe`,
        ctx.waits.timer,
      ).then(
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
    if (!this.#bus?.poll || this.#stuck()) return false;
    return this.ctx.config.clock.now() - this.#lastPoll >= this.ctx.config.coherence.pollInterval;
  }

  /**
   * Work to await before a read, or undefined when there is none (the common case: no await on
   * the L1 hot path). Waits for the subscription once; pulls the log when it is due. Every bus call
   * has the L2 deadline: a bus that hangs makes reads stale (counted), never stuck.
   */
  beforeRead(): Promise<void> | undefined {
    if (this.#subscribed) {
      const waiting = this.#waitFor(this.#subscribed, this.#subscribedAt, 'subscribe');
      if (waiting) return waiting.then(() => this.beforeRead());
      this.#subscribed = undefined;
    }
    const bus = this.#bus;
    if (!bus?.poll) return undefined;
    if (this.#polling) {
      const waiting = this.#waitFor(this.#polling, this.#pollingAt, 'poll');
      if (waiting) return waiting;
      this.#polling = undefined;
    }
    // A poll that outlived its deadline is still out: reads do not queue behind it again.
    if (this.#stuck()) return undefined;
    const now = this.ctx.config.clock.now();
    if (now - this.#lastPoll < this.ctx.config.coherence.pollInterval) return undefined;
    this.#lastPoll = now;
    const poll = bus.poll();
    this.#pollingAt = this.ctx.waits.now();
    // On the host's timers when it lends them (a test drives the deadline), as core's waits are.
    const polling = withTimeout(poll, this.#deadlineMs, `${bus.name} poll`, this.ctx.waits.timer)
      .then(() => this.#resendUnsent(bus))
      .catch((err: unknown) => {
        if (isStrataError(err, 'TIMEOUT')) {
          this.#stuckPoll = poll;
          this.#stuckUntil = this.ctx.config.clock.now() + STUCK_DEADLINES * this.#deadlineMs;
          const clear = () => {
            if (this.#stuckPoll === poll) this.#stuckPoll = undefined;
          };
          poll.then(clear, clear);
        }
        this.#failed('poll', err);
      })
      .finally(() => {
        if (this.#polling === polling) this.#polling = undefined;
      });
    this.#polling = polling;
    return polling;
  }

  /**
   * A subscription or poll another read began, waited for at most what is left of its deadline
   * (this read's own timer); undefined once past it, the wait counted as failed. Its own deadline
   * may never fire: in a Worker, a request's timers are dropped and its fetches cancelled (never
   * settling) when it ends, and waiting for it would hold every later read in the isolate.
   */
  #waitFor(shared: Promise<void>, since: number, what: string): Promise<void> | undefined {
    const ms = this.#deadlineMs;
    // Past it, undefined at once (the caller goes on in this turn); the timer's expiry counts on the next read.
    const { waits } = this.ctx;
    if (waits.now() - since < ms) return waitShared(shared, since, ms, async () => {}, waits);
    this.#failed(what, new StrataError('TIMEOUT', `${this.#bus?.name} ${what} timed out after ${ms} ms`));
    return undefined;
  }

  /**
   * Whether a poll past its deadline still holds polling off: until it settles, or for at most
   * STUCK_DEADLINES deadlines. In a Worker, I/O a request started is cancelled when that request
   * ends, and a cancelled fetch never settles: waiting for it would end polling in the isolate.
   */
  #stuck(): boolean {
    if (this.#stuckPoll && this.ctx.config.clock.now() >= this.#stuckUntil) this.#stuckPoll = undefined;
    return this.#stuckPoll !== undefined;
  }

  /**
   * Tells the other instances that `keys` changed (to `versions`, when known); `null` keys: the
   * whole schema. A failure is counted and logged, never thrown at the writer.
   */
  async publish(
    cache: SchemaCache,
    keys: readonly string[] | null,
    versions: readonly number[] | null,
    op: Invalidation['op'],
  ): Promise<void> {
    const bus = this.#bus;
    if (!bus || (keys !== null && keys.length === 0)) return;
    const schema = cache.schema.identity;
    const origin = this.ctx.config.instanceId;
    const app = this.ctx.config.keyPrefix;
    let message: Invalidation =
      keys === null
        ? { schema, ids: null, op, origin, app }
        : { schema, ids: keys, ...(versions && { versions }), op, origin, app };
    if (!fits(message)) message = { schema, ids: null, op, origin, app };
    const ticks = cache.buckets.map((b) => b.watch.told());
    if (ticks.some((t) => t !== '')) message.ticks = ticks;
    await this.ctx.defer(cache.schema.name, 'l2', 'publish', () => this.#send(bus, message));
  }

  /**
   * Tells the other instances that this one has put back what a Redis reset took of its unflushed
   * writes of `cache` (see `ResetSettle`): a message of no key, `restored`, naming its Redis life.
   */
  async publishRestored(cache: SchemaCache): Promise<void> {
    await this.#publishSettle(cache, { restored: true });
  }

  /**
   * A message of no key about a reset's settle (see `ResetSettle`): `restored`, this instance's
   * answer (in the life its `ticks` name); `ask`, its subscription just came back.
   */
  async #publishSettle(cache: SchemaCache, what: { restored: boolean; ask?: true }): Promise<void> {
    const bus = this.#bus;
    if (!bus) return;
    const message: Invalidation = {
      schema: cache.schema.identity,
      ids: [],
      op: 'set',
      origin: this.ctx.config.instanceId,
      app: this.ctx.config.keyPrefix,
      ...(what.restored && { restored: true }),
      ...(what.ask && { ask: true }),
    };
    const ticks = cache.buckets.map((b) => b.watch.told());
    if (ticks.some((t) => t !== '')) message.ticks = ticks;
    if (what.restored) cache.ownPending?.settle.said(ticks);
    await this.ctx.defer(cache.schema.name, 'l2', 'publish', () => this.#send(bus, message));
  }

  /** Tells the other instances that `tags` moved on (to `values`, when L2 gave them). */
  async publishTags(tags: readonly string[], values: readonly number[]): Promise<void> {
    const bus = this.#bus;
    if (!bus) return;
    const message: Invalidation = {
      schema: this.#tagsSchema,
      ids: tags,
      ...(values.length > 0 && { versions: values }),
      op: 'tags',
      origin: this.ctx.config.instanceId,
      app: this.ctx.config.keyPrefix,
    };
    await this.ctx.defer(TAGS_SCHEMA, 'l2', 'publish', () => this.#send(bus, message));
  }

  /**
   * Publishes what earlier publishes could not, then `message`; whatever fails is kept for the next
   * successful bus call (a publish, a poll, close). One request per message: none kept, one request.
   */
  async #send(bus: InvalidationBus, message?: Invalidation): Promise<void> {
    this.#unsent.reclaim(this.ctx.waits.now(), this.#deadlineMs);
    const batch = [...this.#unsent.take(), ...(message ? [message] : [])];
    const sending = this.#unsent.sending(batch, this.ctx.waits.now());
    try {
      await this.#publishEach(bus, batch, sending);
    } finally {
      this.#unsent.sent(sending);
    }
  }

  /** `#send`'s messages in order; what is left at the first failure is kept (unless reclaimed meanwhile). */
  async #publishEach(bus: InvalidationBus, batch: Invalidation[], sending: Sending): Promise<void> {
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i]!;
      sending.next = i;
      sending.at = this.ctx.waits.now();
      try {
        await withTimeout(bus.publish(m), this.#deadlineMs, `${bus.name} publish`, this.ctx.waits.timer);
      } catch (err) {
        if (isStrataError(err, 'ENCODE_FAILED') && m.ids !== null) {
          // Never keep what cannot be sent (resent first, it would hold back every later message):
          // the whole schema goes instead, which says at least as much.
          this.#failed('publish', err);
          batch.splice(i + 1, 0, {
            schema: m.schema,
            ids: null,
            op: 'invalidateAll',
            origin: m.origin,
            ...(m.app !== undefined && { app: m.app }),
          });
          continue;
        }
        if (this.#unsent.sent(sending)) for (const left of batch.slice(i)) this.#unsent.keep(left);
        throw err;
      }
    }
  }

  /** After a write script published for the bus (`ScriptedBus`): the kept messages go out now. */
  resendUnsent(): void {
    if (this.#bus) this.#resendUnsent(this.#bus);
  }

  /**
   * For `settled()`: publishes out past their deadline (a Worker request that began them ended: see
   * `UnsentInvalidations.reclaim`) go out again now, in the background; true when there were any.
   */
  resendCutShort(): boolean {
    const bus = this.#bus;
    if (!bus || !this.#unsent.reclaim(this.ctx.waits.now(), this.#deadlineMs)) return false;
    this.#resendUnsent(bus);
    return true;
  }

  /** After a bus call that worked: the kept messages go out now, in the background. */
  #resendUnsent(bus: InvalidationBus): void {
    this.#unsent.reclaim(this.ctx.waits.now(), this.#deadlineMs);
    const schema = this.#unsent.firstSchema();
    if (schema === undefined) return;
    void this.ctx.defer(schema, 'l2', 'republish', () => this.#send(bus));
  }

  async close(): Promise<void> {
    const bus = this.#bus;
    this.#closed = true;
    this.#unsent.reclaim(this.ctx.waits.now(), this.#deadlineMs);
    if (bus && this.#unsent.size > 0)
      await this.#send(bus).catch((err: unknown) => this.#failed('republish', err));
    await bus?.close();
  }

  #apply(inv: Invalidation): void {
    if (inv.origin === this.ctx.config.instanceId) return;
    // Another app's message (one channel, a table of the same identity): none of this app's business.
    if (inv.app !== undefined && inv.app !== this.ctx.config.keyPrefix) return;
    const tags = inv.schema === this.#tagsSchema || inv.schema === TAGS_SCHEMA;
    if (inv.op === 'tags') {
      if (!tags) return;
      this.applied += 1;
      this.tagClock()?.learn(inv.ids ?? [], inv.versions ?? []);
      return;
    }
    if (tags && inv.ids === null) {
      // Tag moves collapsed with other unsent messages (see `UnsentInvalidations`): which tags moved
      // is lost, so any may have. No tag value is trusted until read again (an L2 copy stamped
      // before the move is then refused), and every tagged row leaves L1.
      this.applied += 1;
      this.tagClock()?.forget();
      for (const cache of this.all()) tagsMoved(cache, 'every');
      return;
    }
    const cache = this.lookup(inv.schema);
    if (!cache) return;
    this.applied += 1;
    if (inv.ticks) for (let b = 0; b < inv.ticks.length; b++) cache.buckets[b]?.watch.hear(inv.ticks[b]!);
    // Another writer answered a reset: reads settling after one may go on (see `ResetSettle`).
    if (inv.restored) cache.ownPending?.settle.answered(inv.origin, inv.ticks);
    // A writer of this write-behind schema (a write, or an ask): a reset's settle waits for its answer.
    else if (inv.ask || (inv.ids !== null && inv.ids.length > 0)) cache.ownPending?.settle.heard(inv.origin);
    // A peer's subscription came back: an answer this instance sent may have been lost to it.
    if (inv.ask) this.#answerAgain(cache);
    if (inv.ids === null) {
      forgetAll(cache);
      // Perhaps a reset another instance found: this instance's unflushed writes go back now.
      hearReset(this.ctx, cache, inv.ticks);
    } else applyRemote(cache, inv.ids, inv.versions, inv.op === 'delete');
  }

  /**
   * A peer asked (its subscription came back): this instance's answer goes out again if it answered
   * in the life it is in now. Asks within {@link ASK_REPLY_MS} share one answer (sent after all of
   * them arrived, so each asker, subscribed before it asked, hears it): a Redis restart brings every
   * subscription back within a few ms, and one answer per ask would be a message per pair of instances.
   */
  #answerAgain(cache: SchemaCache): void {
    if (this.#answering.has(cache) || !cache.ownPending?.settle.answeredNow) return;
    this.#answering.add(cache);
    // Tracked: a host's waitUntil keeps the request alive for it, and `settled()` waits for it.
    this.ctx.track(
      wait(this.ctx, ASK_REPLY_MS).then(() => {
        this.#answering.delete(cache);
        // Asked again when the delay ends: this instance may have found the next reset meanwhile (a
        // second restart brings the ask and the reset together), and an answer now would name that
        // life before its restore there is done (reliability/test/regression-settle-stale-reanswer.test.ts).
        if (!this.#closed && cache.ownPending?.settle.answeredNow)
          return this.#publishSettle(cache, { restored: true });
      }),
    );
  }

  #gap(): void {
    this.gaps += 1;
    this.tagClock()?.forget();
    for (const cache of this.all()) {
      forgetAll(cache);
      // The bus may be on a Redis that restarted: found now, this instance's unflushed writes go back.
      hearReset(this.ctx, cache);
      // Answers to a reset sent while this subscription was down are lost: ask for them again (and
      // send this instance's own again, lost to the peers whose subscription was down).
      if (cache.ownPending)
        void this.#publishSettle(cache, { restored: cache.ownPending.settle.answeredNow, ask: true });
    }
  }

  get #tagsSchema(): string {
    return `${TAGS_SCHEMA}:${this.ctx.config.keyPrefix}`;
  }

  /** Bus calls are remote calls to (usually) the same Redis as L2: the L2 deadline. */
  get #deadlineMs(): number {
    return this.ctx.config.timeouts.l2;
  }

  #failed(what: string, err: unknown): void {
    this.ctx.counters.error('bus');
    this.ctx.config.logger.warn(`invalidation bus ${what} failed`, {
      bus: this.#bus?.name,
      error: messageOf(err),
    });
  }
}
