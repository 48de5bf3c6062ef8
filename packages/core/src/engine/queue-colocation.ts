import { isStrataError } from '../errors.js';
import type { L2Tier } from '../l2/types.js';
import type { ColocatedQueue, WriteQueue } from '../queue/types.js';
import type { EngineContext } from './context.js';

/**
 * Whether the write-behind queue lives in the L2's own Redis, so a write-behind `set` can queue its
 * writes inside the L2 script that orders them (one round trip, rows and entries atomic). Asked once
 * by a marker (`ColocatedQueue.mark`), never assumed from URLs: two URLs can name one Redis, one URL
 * with another database index names another. A failed check is logged (and counted: a queue's
 * failure by the timed queue already, an L2 one here) and asked again on the next write; until
 * then writes take the two-request path. So does a queue that waits for more replicas than the L2.
 */
export class QueueColocation {
  #answer: Promise<ColocatedQueue | undefined> | undefined;
  /** What `#answer` resolved to (null: not colocated), once it has; undefined until then. */
  #known: ColocatedQueue | null | undefined;

  constructor(
    private readonly ctx: EngineContext,
    private readonly queue: WriteQueue,
    private readonly l2: L2Tier | undefined,
  ) {}

  /**
   * What `get()` would resolve right now without a turn of the microtask queue (null: not colocated),
   * or undefined until it has been answered: then await `get()`.
   */
  known(): ColocatedQueue | null | undefined {
    return this.#known;
  }

  /** The queue's scripted side when it shares the L2's Redis, else undefined. */
  get(): Promise<ColocatedQueue | undefined> {
    const { colocated } = this.queue;
    const { buckets } = this.ctx.config;
    // Over several buckets each bucket's writes need a stream in its own slot. A queue that waits
    // for more replicas than the L2's scripts do takes its writes itself (`enqueue`, then WAIT):
    // queued inside the script, a write was acknowledged on the primary alone, and a failover onto a
    // replica lost it (reliability/test/probe-hostile-9-failover.test.ts).
    if (
      !colocated ||
      !this.l2 ||
      (buckets > 1 && colocated.streams?.length !== buckets) ||
      (colocated.replicas ?? 0) > (this.ctx.config.l2?.replicas ?? 0)
    ) {
      this.#known = null;
      return Promise.resolve(undefined);
    }
    this.#answer ??= this.#ask(colocated, this.l2).then(
      (answer) => {
        this.#known = answer ?? null;
        return answer;
      },
      (err: unknown) => {
        this.#answer = undefined;
        if (!isStrataError(err, 'QUEUE_UNAVAILABLE')) this.ctx.counters.error('l2');
        this.ctx.config.logger.warn('write-behind: could not tell whether the queue shares the L2 Redis', {
          queue: this.queue.name,
          error: String(err),
        });
        return undefined;
      },
    );
    return this.#answer;
  }

  async #ask(colocated: ColocatedQueue, l2: L2Tier): Promise<ColocatedQueue | undefined> {
    const { key, value } = await colocated.mark();
    const [seen] = await l2.getMany([key]);
    return seen === value ? colocated : undefined;
  }
}
