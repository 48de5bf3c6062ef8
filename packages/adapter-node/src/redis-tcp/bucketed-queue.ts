import { StrataError } from '@strata/core';
import {
  type ColocatedQueue,
  checkTakeMax,
  type DeadLetter,
  type Delivery,
  FlushLoop,
  type QueuedWrite,
  queueClosedError,
  type UnreadableDeadLetter,
} from '@strata/core/driver';
import { claimBucketLayout } from './bucket-layout.js';
import type { RedisClient } from './cluster-slots.js';
import type { QueueDurability } from './durability.js';
import {
  openStreamQueue,
  type RedisStreamQueue,
  type RedisStreamQueueStats,
  type StreamQueuePlan,
} from './queue.js';
import { quitConnection } from './quit-connection.js';
import { WRITE_FIELD } from './stream-entry.js';
import type { StreamQueue } from './stream-queue.js';
import { type ConnectionErrors, told } from './unreachable.js';

/**
 * The Redis Stream queue of an app over several buckets (`config.buckets` > 1, docs/redis-cluster.md):
 * one stream per bucket, `{root#b}:writes` with its group and dead letters, so the L2 script of a
 * bucket's writes XADDs them in its own slot (`colocated.streams`). A take reads every stream (in
 * parallel, `max` shared out among them), a handle says its stream (`b/<entry id>`), `pending()`
 * sums the streams. Before its first write (and in `checkDurability`, which createStrata runs at
 * start-up) it refuses while another bucket count's writes still wait (see `claimBucketLayout`).
 */
export class BucketedStreamQueue implements RedisStreamQueue {
  readonly name = 'redis-stream';
  /** Drives this queue in each Strata instance it is given to (see `WriteQueue.flushLoop`). */
  readonly flushLoop = FlushLoop;
  readonly namespace: string;
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly deadLetterStream: string;
  readonly colocated: ColocatedQueue;
  readonly shards: readonly StreamQueue[];
  readonly #redis: RedisClient;
  readonly #owned: boolean;
  readonly #errors: ConnectionErrors | undefined;
  /** The layout claim (see `claimBucketLayout`): kept once it passed; asked again after a failure. */
  #layout: Promise<void> | undefined;
  #layoutPassed = false;
  #closing: Promise<void> | undefined;
  /** Which stream gets the first of a take's remainder (see `take`). */
  #turn = 0;
  /** Streams the last take did not read (failed, or no share of it): what they hold is unknown (see `after`). */
  readonly #unread = new Set<number>();

  /** `errors`: the owned client's, to tell a failure while it is down (see ConnectionErrors). */
  constructor(
    redis: RedisClient,
    connection: 'owned' | 'borrowed',
    plans: readonly StreamQueuePlan[],
    errors?: ConnectionErrors,
  ) {
    this.#redis = redis;
    this.#owned = connection === 'owned';
    this.#errors = errors;
    // Each stream's queue borrows the one client: this queue quits it.
    this.shards = plans.map((plan) => openStreamQueue(redis, 'borrowed', plan, errors));
    const first = this.shards[0]!;
    this.namespace = first.namespace;
    this.stream = first.stream;
    this.group = first.group;
    this.consumer = first.consumer;
    this.deadLetterStream = first.deadLetterStream;
    const streams = this.shards.map((s) => s.stream);
    this.colocated = {
      stream: first.stream,
      streams,
      field: WRITE_FIELD,
      ready: () => {
        if (this.#closing !== undefined) return Promise.reject(queueClosedError(this.name));
        const waits = this.shards.map((s) => s.colocated.ready()).filter((p) => p !== undefined);
        if (!this.#layoutPassed) waits.push(this.#claim());
        return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
      },
      mark: () => first.colocated.mark(),
      replicas: Math.max(...this.shards.map((s) => s.colocated.replicas ?? 0)),
    };
  }

  /** The second-request path (the L2 is another Redis): each write into a stream chosen by its key. */
  async enqueue(writes: readonly QueuedWrite[]): Promise<void> {
    await this.#claim();
    const parts = this.shards.map((): QueuedWrite[] => []);
    for (const w of writes) parts[shardOf(`${w.schema}\0${w.id}`, parts.length)]!.push(w);
    await Promise.all(parts.map((part, b) => (part.length > 0 ? this.shards[b]!.enqueue(part) : undefined)));
  }

  async take(max: number): Promise<Delivery[]> {
    this.#checkOpen();
    checkTakeMax(max);
    if (max === 0) return [];
    // `max` shared out exactly (at most max in all), the remainder to streams from a turning start,
    // so that small takes reach every stream in turn.
    const count = this.shards.length;
    const start = this.#turn++ % count;
    const share = (b: number) =>
      Math.floor(max / count) + ((b - start + count) % count < max % count ? 1 : 0);
    // Settled, not all: a stream whose take failed (its master down) must not cost the others'
    // deliveries, which their queues now hold in flight until acked or retried.
    const settled = await Promise.allSettled(
      this.shards.map((s, b) => (share(b) > 0 ? s.take(share(b)) : Promise.resolve([]))),
    );
    // Not read (no share of a small take, or failed): unknown until a take reads it again.
    settled.forEach((r, b) => {
      if (r.status === 'rejected' || share(b) === 0) this.#unread.add(b);
      else this.#unread.delete(b);
    });
    const taken = settled.flatMap((r, b) =>
      r.status === 'fulfilled' ? r.value.map((d) => ({ ...d, handle: `${b}/${d.handle}` })) : [],
    );
    const failed = settled.find((r) => r.status === 'rejected');
    // Nothing taken and a stream unread: not "drained" (flushDirty would return with writes queued).
    if (taken.length === 0 && failed) throw failed.reason;
    return taken;
  }

  ack(handles: readonly string[]): Promise<void> {
    return this.#each(handles, (shard, ids) => shard.ack(ids));
  }

  retry(handles: readonly string[]): Promise<void> {
    return this.#each(handles, (shard, ids) => shard.retry(ids));
  }

  async deadLetter(deliveries: readonly Delivery[], reason: string): Promise<void> {
    this.#checkOpen();
    const parts = new Map<number, Delivery[]>();
    for (const d of deliveries) {
      const [b, handle] = split(d.handle, this.shards.length);
      if (b === undefined) continue;
      parts.get(b)?.push({ ...d, handle }) ?? parts.set(b, [{ ...d, handle }]);
    }
    await Promise.all([...parts].map(([b, part]) => this.shards[b]!.deadLetter(part, reason)));
  }

  async pending(): Promise<number> {
    this.#checkOpen();
    const counts = await Promise.all(this.shards.map((s) => s.pending()));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Every stream's position, in bucket order, joined by commas. */
  async position(): Promise<string> {
    this.#checkOpen();
    return (await Promise.all(this.shards.map((s) => s.position()))).join(',');
  }

  async heldUpTo(position: string, max: number): Promise<QueuedWrite[]> {
    this.#checkOpen();
    const at = this.#positions(position);
    const held = await Promise.all(this.shards.map((s, b) => s.heldUpTo(at[b]!, max)));
    return held.flat().slice(0, max);
  }

  /**
   * Each stream's takes keep its order (see `StreamQueue.after`). A stream the last take did not read
   * (it failed, or `max` < streams gave it no share) may hold anything: while one does, nothing is
   * known to be after the position, so `flushDirty` does not stop short of that stream's writes.
   */
  after(position: string, handle: string): boolean {
    const at = this.#positions(position);
    const [b, id] = split(handle, this.shards.length);
    return this.#unread.size === 0 && b !== undefined && this.shards[b]!.after(at[b]!, id);
  }

  async deadLetters(count = 100): Promise<(DeadLetter | UnreadableDeadLetter)[]> {
    const parts = await Promise.all(this.shards.map((s) => s.deadLetters(count)));
    return parts.flat().slice(0, count);
  }

  /** Every stream's master is asked (each its own `INFO`); then the layout claim. */
  async checkDurability(): Promise<QueueDurability> {
    this.#checkOpen();
    const answers = await Promise.all(this.shards.map((s) => s.checkDurability()));
    await this.#claim();
    return answers.find((a) => a !== 'aof') ?? 'aof';
  }

  stats(): RedisStreamQueueStats {
    const all = this.shards.map((s) => s.stats());
    return {
      reclaimed: all.reduce((n, s) => n + s.reclaimed, 0),
      malformed: all.reduce((n, s) => n + s.malformed, 0),
      vanished: all.reduce((n, s) => n + s.vanished, 0),
      durability: all.find((s) => s.durability !== 'aof')?.durability ?? 'aof',
      eviction: all.find((s) => s.eviction !== 'none')?.eviction ?? 'none',
    };
  }

  close(): Promise<void> {
    this.#closing ??= Promise.all(this.shards.map((s) => s.close())).then(() =>
      this.#owned ? quitConnection(this.#redis) : undefined,
    );
    return this.#closing;
  }

  /** A position (`position()`): one entry id per stream, in bucket order, comma-joined. */
  #positions(position: string): string[] {
    const at = position.split(',');
    if (at.length !== this.shards.length) {
      throw new StrataError('INVALID_CONFIG', `not a position of ${this.shards.length} streams`, {
        details: { position },
      });
    }
    return at;
  }

  #claim(): Promise<void> {
    this.#checkOpen();
    this.#layout ??= told(
      claimBucketLayout(this.#redis, this.namespace, this.shards.length),
      this.#errors,
    ).then(
      () => {
        this.#layoutPassed = true;
      },
      (err: unknown) => {
        this.#layout = undefined;
        throw err;
      },
    );
    return this.#layout;
  }

  async #each(
    handles: readonly string[],
    run: (shard: StreamQueue, ids: string[]) => Promise<void>,
  ): Promise<void> {
    this.#checkOpen();
    const parts = new Map<number, string[]>();
    for (const h of handles) {
      const [b, id] = split(h, this.shards.length);
      if (b !== undefined) parts.get(b)?.push(id) ?? parts.set(b, [id]);
    }
    await Promise.all([...parts].map(([b, ids]) => run(this.shards[b]!, ids)));
  }

  #checkOpen(): void {
    if (this.#closing !== undefined) throw queueClosedError(this.name);
  }
}

/** `b/<entry id>` → [b, entry id]; [undefined, ''] for a handle that is not one of ours. */
function split(handle: string, count: number): [number | undefined, string] {
  const at = handle.indexOf('/');
  const b = at > 0 ? Number(handle.slice(0, at)) : Number.NaN;
  return Number.isInteger(b) && b >= 0 && b < count ? [b, handle.slice(at + 1)] : [undefined, ''];
}

/** FNV-1a of `text`, mod `count`: a key's writes on the second-request path go to one stream. */
function shardOf(text: string, count: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0) % count;
}
