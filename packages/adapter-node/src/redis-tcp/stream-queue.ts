import {
  type ColocatedQueue,
  checkTakeMax,
  type DeadLetter,
  type Delivery,
  FlushLoop,
  parseQueuedWrites,
  type QueuedWrite,
  queueClosedError,
  triesMade,
  type UnreadableDeadLetter,
} from '@strata/core/driver';
import type { Redis } from 'ioredis';
import { BURY_SCRIPT, type Burial, buryArgs } from './bury-script.js';
import type { RedisClient } from './cluster-slots.js';
import { markRedis } from './colocation-mark.js';
import type { DurabilityCheck, QueueDurability } from './durability.js';
import { enqueueEntries } from './enqueue-entries.js';
import { entryAfter, heldByOthers, streamPosition } from './held-entries.js';
import { leaveGroup } from './leave-group.js';
import type { RedisStreamQueue, RedisStreamQueueStats } from './queue.js';
import { quitConnection } from './quit-connection.js';
import { readDeadLetter, WRITE_FIELD } from './stream-entry.js';
import { entriesOf, isNoGroup, results } from './stream-replies.js';
import { type TakenEntry, type TakeTarget, takeBatch } from './take-batch.js';
import { type ConnectionErrors, told } from './unreachable.js';
import type { ReplicaAck } from './wait-replicas.js';

interface StreamNames extends TakeTarget {
  readonly namespace: string;
  readonly deadLetterStream: string;
}

/** A stream entry id (`<ms>-<seq>`, or `<ms>`): anything else cannot be ours, and Redis would refuse it. */
const ENTRY_ID = /^\d+(-\d+)?$/;

/** The Redis Stream queue; see `createRedisStreamQueue` for what each operation sends. */
export class StreamQueue implements RedisStreamQueue {
  readonly name = 'redis-stream';
  /** Drives this queue in each Strata instance it is given to (see `WriteQueue.flushLoop`). */
  readonly flushLoop = FlushLoop;
  readonly namespace: string;
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly deadLetterStream: string;
  /** Lets a Strata whose L2 is this same Redis queue its writes inside the L2 script (one round trip). */
  readonly colocated: ColocatedQueue;
  readonly #target: StreamNames;
  readonly #redis: RedisClient;
  readonly #owned: boolean;
  readonly #ack: ReplicaAck;
  readonly #stats: Omit<RedisStreamQueueStats, 'durability' | 'eviction'> = {
    reclaimed: 0,
    malformed: 0,
    vanished: 0,
  };
  readonly #durability: DurabilityCheck;
  /** An owned connection's errors: a call failed while it is down says which Redis and why. */
  readonly #errors: ConnectionErrors | undefined;
  #groupReady: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Handed out by `take` and not yet acked, retried or dead-lettered: not handed out again. */
  readonly #inFlight = new Set<string>();
  /** Takes run one at a time: a take reading this consumer's pending entries must see the others' marks. */
  #takes: Promise<unknown> = Promise.resolve();

  constructor(
    redis: RedisClient,
    connection: 'owned' | 'borrowed',
    target: StreamNames,
    durability: DurabilityCheck,
    ack: ReplicaAck,
    errors?: ConnectionErrors,
  ) {
    this.#redis = redis;
    this.#errors = errors;
    this.#ack = ack;
    this.#owned = connection === 'owned';
    this.#target = target;
    this.#durability = durability;
    this.namespace = target.namespace;
    this.stream = target.stream;
    this.group = target.group;
    this.consumer = target.consumer;
    this.deadLetterStream = target.deadLetterStream;
    this.colocated = {
      stream: this.stream,
      field: WRITE_FIELD,
      // Answered once and open (every write-behind `set` but the first): nothing to wait for.
      ready: () =>
        this.#closing === undefined && this.#durability.passed
          ? undefined
          : (async () => {
              this.#checkOpen();
              await this.#told(this.#durability.check());
            })(),
      mark: () => {
        this.#checkOpen();
        return this.#told(markRedis(this.#redis, this.stream));
      },
      replicas: ack.replicas,
    };
  }

  async enqueue(writes: readonly QueuedWrite[]): Promise<void> {
    this.#checkOpen();
    const valid = parseQueuedWrites(writes);
    if (valid.length === 0) return;
    // Before the first XADD: a Redis that would lose the writes gets none of them.
    await this.#told(this.#durability.check());
    await this.#told(
      enqueueEntries(
        this.#redis,
        this.stream,
        valid.map((write) => JSON.stringify(write)),
        this.#ack,
      ),
    );
  }

  async take(max: number): Promise<Delivery[]> {
    this.#checkOpen();
    checkTakeMax(max);
    if (max === 0) return [];
    const turn = this.#takes.then(() => this.#told(this.#take(max)));
    this.#takes = turn.catch(() => undefined);
    return turn;
  }

  #take(max: number): Promise<Delivery[]> {
    return this.#withGroup(async () => {
      const taken = await takeBatch(this.#redis, this.#target, max, this.#stats, this.#inFlight);
      await this.#buryMalformed(taken);
      const deliveries = taken.flatMap(({ id, write, attempts }) =>
        write === null ? [] : [{ handle: id, write, attempts }],
      );
      for (const { handle } of deliveries) this.#inFlight.add(handle);
      return deliveries;
    });
  }

  /** Whatever Redis then says, the caller has let go of these: a later take may hand them out again. */
  #release(handles: readonly string[]): void {
    for (const handle of handles) this.#inFlight.delete(handle);
  }

  async ack(handles: readonly string[]): Promise<void> {
    this.#checkOpen();
    this.#release(handles);
    const ids = handles.filter((handle) => ENTRY_ID.test(handle));
    if (ids.length === 0) return;
    results(
      await this.#told(
        this.#redis
          .multi()
          .xack(this.stream, this.group, ...ids)
          .xdel(this.stream, ...ids)
          .exec(),
      ),
      'ack',
    );
  }

  async retry(handles: readonly string[]): Promise<void> {
    this.#checkOpen();
    this.#release(handles);
    const ids = handles.filter((handle) => ENTRY_ID.test(handle));
    if (ids.length === 0) return;
    const idle = this.#target.claimIdleMs;
    // Redis and Cluster share this command's typing, but TS cannot pick an overload of a union.
    const redis = this.#redis as Redis;
    await this.#told(
      this.#withGroup(() =>
        redis.xclaim(this.stream, this.group, this.consumer, 0, ...ids, 'IDLE', idle, 'JUSTID'),
      ),
    );
  }

  async deadLetter(deliveries: readonly Delivery[], reason: string): Promise<void> {
    this.#checkOpen();
    this.#release(deliveries.map((d) => d.handle));
    const burials = deliveries
      .filter((d) => ENTRY_ID.test(d.handle))
      .map((d) => ({ id: d.handle, value: JSON.stringify(d.write), reason, attempts: triesMade(d) }));
    await this.#told(this.#bury(burials));
  }

  async pending(): Promise<number> {
    this.#checkOpen();
    return this.#told(this.#redis.xlen(this.stream));
  }

  async position(): Promise<string> {
    this.#checkOpen();
    return this.#told(streamPosition(this.#redis, this.stream));
  }

  async heldUpTo(position: string, max: number): Promise<QueuedWrite[]> {
    this.#checkOpen();
    checkTakeMax(max);
    return this.#told(this.#withGroup(() => heldByOthers(this.#redis, this.#target, position, max)));
  }

  /**
   * `take` reads this consumer's pending entries (retried ones too), then reclaimed ones, each in id
   * order, then new ones (`>`, in id order): what it can take up to a position comes first.
   */
  after(position: string, handle: string): boolean {
    return entryAfter(position, handle);
  }

  async deadLetters(count = 100): Promise<(DeadLetter | UnreadableDeadLetter)[]> {
    this.#checkOpen();
    const reply = await this.#told(this.#redis.xrange(this.deadLetterStream, '-', '+', 'COUNT', count));
    return entriesOf(reply, 'XRANGE').map(readDeadLetter);
  }

  async checkDurability(): Promise<QueueDurability> {
    this.#checkOpen();
    return this.#told(this.#durability.check());
  }

  stats(): RedisStreamQueueStats {
    return { ...this.#stats, durability: this.#durability.durability, eviction: this.#durability.eviction };
  }

  /**
   * Leaves the group when it holds no entry (so a process restarting all day does not pile up
   * consumers), then quits an owned connection; once, however often it is called. A borrowed
   * connection stays open.
   */
  close(): Promise<void> {
    this.#closing ??= this.#leaveGroup().then(() => (this.#owned ? this.#quit() : undefined));
    return this.#closing;
  }

  #quit(): Promise<void> {
    return quitConnection(this.#redis);
  }

  /** `stats().consumerRemoved` says whether it left (see `leaveGroup`). */
  async #leaveGroup(): Promise<void> {
    if (this.#groupReady === undefined) return;
    this.#stats.consumerRemoved = await leaveGroup(this.#redis, this.#target);
  }

  async #buryMalformed(read: readonly TakenEntry[]): Promise<void> {
    const burials: Burial[] = [];
    for (const entry of read) {
      if (entry.write !== null) continue;
      burials.push({
        id: entry.id,
        value: entry.raw,
        reason: `malformed: ${entry.problem}`,
        attempts: triesMade(entry),
      });
    }
    if (burials.length === 0) return;
    await this.#bury(burials);
    this.#stats.malformed += burials.length;
  }

  async #bury(burials: readonly Burial[]): Promise<void> {
    if (burials.length === 0) return;
    await this.#redis.eval(
      BURY_SCRIPT,
      2,
      this.stream,
      this.deadLetterStream,
      ...buryArgs(this.group, burials),
    );
  }

  /** Runs `fn` once the group exists; if the group (or the stream) vanished meanwhile, once more after creating it. */
  async #withGroup<T>(fn: () => Promise<T>): Promise<T> {
    await this.#ensureGroup();
    try {
      return await fn();
    } catch (err) {
      if (!isNoGroup(err)) throw err;
      this.#groupReady = undefined;
      await this.#ensureGroup();
      return fn();
    }
  }

  #ensureGroup(): Promise<void> {
    this.#groupReady ??= this.#redis.xgroup('CREATE', this.stream, this.group, '0', 'MKSTREAM').then(
      () => undefined,
      (err: unknown) => {
        if (err instanceof Error && err.message.startsWith('BUSYGROUP')) return;
        this.#groupReady = undefined;
        throw err;
      },
    );
    return this.#groupReady;
  }

  /** `work`'s failure told with the connection's own error where this queue owns it (see ConnectionErrors). */
  #told<T>(work: Promise<T>): Promise<T> {
    return told(work, this.#errors);
  }

  #checkOpen(): void {
    if (this.#closing !== undefined) throw queueClosedError(this.name);
  }
}
