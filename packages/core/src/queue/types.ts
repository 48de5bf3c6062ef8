import type { FlushLoop } from '../engine/flush-loop.js';

/**
 * One write-behind write, as it travels through a queue. The row is the L2 encoding of the stored
 * row (encrypted fields as ciphertext), so a queue never holds plaintext of an encrypted field.
 */
export interface QueuedWrite {
  /** The qualified table (`pgschema.table`, or the table alone when the schema names none). */
  schema: string;
  /**
   * The writer's `keyPrefix` (its app or tenant): with `schema`, which Strata flushes the write
   * (a keyPrefix is claimed by one database, see `L3Claim`), so tenants on one queue whose tables
   * share a name never flush each other's writes. Absent from messages of producers before it
   * existed (still read, by `schema` alone) and from entries a Redis Stream script adds (that
   * stream is the app's own).
   */
  keyPrefix?: string;
  id: string;
  op: 'set' | 'delete';
  /** L2 encoding of the stored row, for `set`. */
  row?: string;
  /**
   * For a `set` leaving columns out made while the key's earlier queued writes were marked superseded
   * by a write that may never land (a transaction or write-through write whose outcome is unknown; a
   * write of another shape that did not see them): those writes' fold (`row`, encoded as `row` is;
   * none for a queued delete), which the flush applies beneath this write's columns only while
   * Postgres holds the key below `below` (their version + 1: no later write landed). Else the write
   * goes as `row` alone. `defaults`: the keys of that fold's columns that are a new row's defaults
   * (as `defaults` below), which it only inserts (absent from an older producer's: none).
   */
  under?: { below: number; row?: string; defaults?: string[] };
  /**
   * For a `set`: the keys of `row`'s columns whose values are defaults the writer filled in for a new
   * row (a partial set of a key with no row: `$defaultFn`, literal and `defaultNow()` values). As
   * Postgres' DEFAULT, the flush inserts them and never lays them over a stored row's values (a write
   * reserved before this one, such as a held transaction, may have made the row by then). Absent from
   * an older producer's message: every column of the row is then applied.
   */
  defaults?: string[];
  /**
   * Orders writes to one key across instances and retries: an INCR on the key's version counter
   * in L2, taken in the same request as the L2 write. Larger = newer.
   */
  version: number;
  /**
   * Queued again by its writer after an L2 reset put it back into the app's pending index (see
   * `restoreOwnPending`): a queue that kept the original holds it twice. Refused at its flush behind
   * a newer write, it is a redelivery, never reported as superseded (the newer write merged over it).
   */
  restored?: true;
  /**
   * Queued by a writer that does not know whether the write landed: its L2 script's reply did not
   * come (see engine/conditional-writes.ts). Its `version` is then -1 (an older consumer refuses the message
   * as malformed rather than apply a write that may not have landed); the flush applies it only
   * once Redis' clock is past `until` (ms; the script's deadline on that clock, past which it
   * writes nothing) and only if the key's pending index entry in L2 holds this write, at that
   * entry's version; else it is dropped.
   */
  conditional?: { until: number };
}

/**
 * Where a queued write goes: its qualified table and its writer's keyPrefix (absent in an older
 * producer's message). See `Strata.flushes` and `flushRouted`.
 * @example const route: WriteRoute = { schema: 'tenant_a.players', keyPrefix: 'tenant_a' };
 */
export interface WriteRoute {
  readonly schema: string;
  readonly keyPrefix?: string | undefined;
}

/** A message handed to the flusher, with what it needs to acknowledge it. */
export interface Delivery {
  /** Queue-specific handle (stream entry id, message id). */
  readonly handle: string;
  readonly write: QueuedWrite;
  /** How many times this message was delivered before (0 on the first delivery). */
  readonly attempts: number;
}

/**
 * The write-queue seam: "enqueue, acknowledge, flush in batches", at-least-once. Pull queues
 * (memory, Redis Stream) hand out batches through `take`; push queues (Cloudflare Queues) deliver
 * batches to a consumer, which calls the engine's flush directly and acks/retries per message.
 * @example
 * const queue: WriteQueue = createMemoryQueue(); // or createRedisStreamQueue, createCloudflareQueue
 * const strata = new Strata({ l3, writeBehind: { queue }, defaultWriteMode: 'write-behind' });
 */
export interface WriteQueue {
  readonly name: string;
  /** Resolves only once the writes are durable in the queue (acknowledged). One round trip. */
  enqueue(writes: readonly QueuedWrite[]): Promise<void>;
  /** Pull queues: up to `max` deliveries not yet acknowledged (including ones a crashed consumer held). */
  take?(max: number): Promise<Delivery[]>;
  /** Done with these: they are never delivered again. */
  ack(handles: readonly string[]): Promise<void>;
  /** Failed this time: deliver again later (attempts + 1). */
  retry(handles: readonly string[]): Promise<void>;
  /**
   * Gave up (after max retries): move to the dead-letter store, out of the way of the others. The
   * dead letter's `attempts` is the tries made, the last one counted (`triesMade(delivery)`).
   */
  deadLetter(deliveries: readonly Delivery[], reason: string): Promise<void>;
  /**
   * Writes enqueued and not yet acknowledged (DirtyCount in the Go library Strata), as far as this
   * queue can tell.
   */
  pending(): Promise<number>;
  /**
   * Optional, for a pull queue several consumers share: where the queue stands now, an opaque token
   * for `heldUpTo`. With it, `flushDirty` also waits for writes another instance took before the call.
   */
  position?(): Promise<string>;
  /**
   * Optional, with `position`: up to `max` writes enqueued at or before `position` that a consumer
   * other than this one has taken and not yet acked, retried or dead-lettered.
   */
  heldUpTo?(position: string, max: number): Promise<QueuedWrite[]>;
  /**
   * Optional, with `position`: whether the delivery `handle` (handed out by this queue's `take`) was
   * enqueued after `position`. With it `flushDirty` stops once a round of takes hands out no write of
   * this app at or before the call's position, however many newer ones keep arriving; that needs a
   * `take` that hands out whatever it can of what was enqueued up to a position (retried writes
   * included) before anything enqueued after it. When it cannot tell (a part of the queue was not
   * read), it answers false: the drain then runs on as if it had no position.
   */
  after?(position: string, handle: string): boolean;
  close(): Promise<void>;
  /**
   * Pull queues (with `take`): what drives them in each instance they are given to (take a batch,
   * apply it, ack / retry / dead-letter each write; `flushDirty`; the flush timer), `FlushLoop`
   * from `@strata/core/driver`. A queue with `take` and without it is refused (INVALID_CONFIG). It
   * comes with the queue so that an instance on a push queue (a Worker) does not bundle it.
   */
  readonly flushLoop?: typeof FlushLoop;
  /**
   * Set by a queue that lives in a Redis: when it is the L2's own Redis, the engine appends the
   * writes inside the L2 script that orders them (see `ColocatedQueue`).
   */
  readonly colocated?: ColocatedQueue;
}

/**
 * What a queue kept in a Redis Stream offers so that a write-behind `set` is ONE round trip when the
 * stream is on the L2's own Redis: the script that takes the versions and writes the pending rows
 * also XADDs `<field> <write JSON>` to `stream`, so the rows and their queue entries land together
 * or not at all. The engine first checks that both are one Redis (`mark`); otherwise it enqueues
 * with `enqueue`, a second round trip.
 * @example
 * const queue = createRedisStreamQueue({ url, keyPrefix: 'shop' });
 * queue.colocated?.stream; // 'shop:writes'
 */
export interface ColocatedQueue {
  /** The stream key entries are added to (`XADD <stream> * <field> <json>`). */
  readonly stream: string;
  /**
   * A queue split by bucket (`config.buckets` > 1, Redis Cluster): the stream of each bucket, under
   * that bucket's hash tag, so the script of a bucket's writes stays in one slot. Without it (or of
   * another length than `config.buckets`), an app of several buckets enqueues in a second request.
   */
  readonly streams?: readonly string[];
  /** The entry field holding the `QueuedWrite` JSON. */
  readonly field: string;
  /**
   * Resolves when the queue would take an `enqueue` now; rejects as `enqueue` would (closed, or a
   * Redis that would lose the writes). Called before every scripted enqueue; undefined when the
   * queue knows it would take one (answered before, still open): no promise to wait for.
   */
  ready(): Promise<void> | undefined;
  /**
   * Writes a fresh random value under a key of this queue's namespace on the queue's own
   * connection, expiring within seconds, and resolves both: the engine reads the key through L2,
   * and only an L2 that sees the same value is the same Redis (and database).
   */
  mark(): Promise<{ key: string; value: string }>;
  /**
   * How many replicas `enqueue` waits for (`WAIT`); absent: none. The engine queues inside an L2
   * script only when the L2 waits for as many (`L2Tier.replicas`), else a write acknowledged there
   * would not be on a replica and a failover could lose it.
   */
  readonly replicas?: number;
}
