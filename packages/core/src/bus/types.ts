import type { L2Script, L2Tier } from '../l2/types.js';

/**
 * What one instance tells the others: drop these ids of this schema from L1 (or all of it).
 * One message per write batch, not per row. On the wire it is JSON; the Go library Strata's
 * `{schema, id, op}` is accepted as well.
 */
export interface Invalidation {
  /** The schema's identity (its qualified table): the same on every instance and app. */
  schema: string;
  /** Ids to drop; `null` = every entry of the schema (invalidateAll). */
  ids: readonly string[] | null;
  /**
   * The version each id holds after the write (same order as `ids`), when known: a receiver keeps
   * an L1 copy that is already as new, so a late message never drops a newer row.
   */
  versions?: readonly number[];
  /** `tags`: `ids` are tags that moved on (to `versions`, when known), for every schema. */
  op: 'set' | 'delete' | 'invalidate' | 'invalidateAll' | 'tags';
  /** The publishing instance, so it can skip its own messages. */
  origin: string;
  /**
   * The publisher's app (its `keyPrefix`): apps on one channel may have tables of one identity (an
   * unqualified `items` in two databases, or in two schemas by search_path), and a message of
   * another app's must change nothing here (a version of its counter would pass this app's own
   * unflushed writes). Absent from older publishers and the Go library: taken as this app's.
   */
  app?: string;
  /**
   * Per bucket, the publisher's Redis life and latest tick there (`{boot}:{tick}`, '' unknown): an
   * instance in the same life takes it as a floor, so a Redis restored to before it is found at
   * that instance's next write (see `L2Watch.hear`). Absent from older publishers and the Go library.
   */
  ticks?: readonly string[];
  /**
   * The publisher found a Redis reset and has put back what it took of its unflushed write-behind
   * writes of `schema` (their keys were told before this; `ids` is empty), in the life `ticks`
   * names: readers that found the reset wait for these answers (see `ResetSettle`). Absent from
   * older publishers, and stripped by older receivers, which see a write of no key.
   */
  restored?: true;
  /**
   * The publisher's subscription just came back (a gap): answers to a reset sent meanwhile were
   * lost to it, so every instance that answered one in its current life answers again (see
   * `ResetSettle`). Absent from older publishers, and stripped by older receivers.
   */
  ask?: true;
}

export interface BusHandlers {
  /**
   * A valid message from another instance (or this one: the engine filters by origin). With
   * `origin`, this instance's own messages in the current wire form are dropped before decoding.
   */
  message(invalidation: Invalidation): void;
  /**
   * Messages may have been missed (a log trimmed past the cursor, a subscription that dropped and
   * came back): the receiver must clear its whole L1.
   */
  gap(): void;
  /**
   * This instance's origin: a raw message that begins as its own do (`ownPrefix`) is its own echo,
   * counted as received and dropped unread (no JSON parse, no checks). Messages from instances of
   * an older wire form (`origin` last) are still decoded, and `message` filters them.
   */
  readonly origin?: string;
  /**
   * The one-shot timer the bus's own deadlines and waits run on (a subscribe confirmation, a
   * reconnect's backoff, a bound on a shared read): the engine passes the host's (`Scheduler.after`
   * when it lends one, else `setTimeout`), so a test drives them and a host's rules for timers hold.
   * Returns what cancels the task; the bus cancels it once what it bounded ended. Absent: `setTimeout`.
   */
  readonly timer?: (ms: number, task: () => void) => () => void;
}

export interface BusStats {
  published: number;
  received: number;
  /** Malformed messages: dropped, counted, never thrown. */
  dropped: number;
  gaps: number;
}

/**
 * The invalidation bus seam. Push buses (Redis pub/sub, Upstash SSE) deliver as messages arrive;
 * the log bus (for isolates that cannot hold a subscription) delivers when `poll()` is called, which
 * the engine does before reads, at most every `coherence.pollInterval`.
 * @example
 * const bus = createRedisPubSubBus({ url: redisUrl }); // @strata/adapter-node
 * const strata = new Strata({ l2, l3, coherence: { bus } }); // each write tells the other instances to drop L1 copies
 */
export interface InvalidationBus {
  readonly name: string;
  /** Publishes in one round trip. Rejects when it could not. */
  publish(invalidation: Invalidation): Promise<void>;
  /** Starts delivering to `handlers`; resolves once subscribed (push) or once the cursor is set (log). */
  subscribe(handlers: BusHandlers): Promise<void>;
  /** Pull buses only: read what arrived since the last poll. */
  poll?(): Promise<void>;
  stats(): BusStats;
  /** Unsubscribes and releases what the bus opened itself. Idempotent. */
  close(): Promise<void>;
  /**
   * A bus whose `publish` is a plain `PUBLISH` on one Redis: a write script run on that same Redis
   * (checked by `mark`, never assumed) may publish a write's message itself, in its own round trip.
   */
  readonly scripted?: ScriptedBus;
}

/**
 * A bus a write script can publish for (see `InvalidationBus.scripted`), e.g. adapter-node's Redis
 * pub/sub: its ORDERED_PUT then PUBLISHes the batch's messages itself.
 */
export interface ScriptedBus {
  /**
   * How the script of a one-bucket write-behind batch of `identity` (run on `l2`) publishes the
   * batch's messages as `origin` of `app` (the message's `app`, see `Invalidation.app`; undefined
   * names none), one per op as the engine would; undefined when the engine is to publish them
   * (another Redis, a message the script would not send as is). A promise only until the bus has
   * checked, once, by a marker key, that `l2` reaches its Redis; `failed` hears a check that failed
   * (asked again at the next batch).
   */
  batch(
    l2: L2Tier,
    identity: string,
    origin: string,
    writes: readonly { readonly key: string; readonly row?: unknown }[],
    failed: (err: unknown) => void,
    app?: string,
  ): ScriptedPublish | undefined | Promise<ScriptedPublish | undefined>;
}

/** A batch's publish inside its ORDERED_PUT (see `ORDERED_PUT_PUBLISH`). */
export interface ScriptedPublish {
  /** Run instead of ORDERED_PUT and ORDERED_PUT_ENQUEUE. */
  readonly scripts: readonly [L2Script, L2Script];
  /** Their ARGV after the field but the last: the bucket's life (`L2Watch.told`), which the engine adds per attempt. */
  readonly args: readonly string[];
  /** The script ran: its messages are out (the bus counts them). */
  sent(): void;
}
