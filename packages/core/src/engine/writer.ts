import { StrataError } from '../errors.js';
import type { Row } from '../l3/types.js';
import type { WriteQueue } from '../queue/types.js';
import type { Coherence } from './coherence.js';
import type { EngineContext } from './context.js';
import type { FlushLoop } from './flush-loop.js';
import { type Id, idKey } from './ids.js';
import type { SchemaRuntime } from './schema-runtime.js';
import { VersionClock, writeBehind } from './write-behind.js';
import { deleteIds, writeRows } from './write-path.js';

/**
 * Routes writes by the schema's write mode (write-behind falls back to a versioned write-through
 * while L2 is down: the write then waits for Postgres instead of being lost), tells the other instances, and
 * starts a flush when this instance has `writeBehindFlushThreshold` writes waiting.
 */
export class Writer {
  readonly #versions = new VersionClock();
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing = false;

  constructor(
    readonly ctx: EngineContext,
    readonly coherence: Coherence,
    readonly queue: WriteQueue | undefined,
    readonly flushLoop: FlushLoop | undefined,
  ) {}

  set(rt: SchemaRuntime, prepared: readonly { row: Row; id: Id }[]): Promise<Row[]> {
    return this.#track(() => this.#set(rt, prepared));
  }

  delete(rt: SchemaRuntime, ids: readonly Id[]): Promise<number> {
    return this.#track(() => this.#delete(rt, ids));
  }

  /**
   * Refuses new writes, then waits for those already running: after this resolves, nothing can be
   * acknowledged that a final flush would miss.
   */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled([...this.#inFlight]);
  }

  #track<T>(write: () => Promise<T>): Promise<T> {
    if (this.#closing) {
      return Promise.reject(
        new StrataError('UNAVAILABLE', 'this Strata instance is closing: it takes no more writes'),
      );
    }
    const running = write();
    this.#inFlight.add(running);
    const done = () => void this.#inFlight.delete(running);
    running.then(done, done);
    return running;
  }

  async #set(rt: SchemaRuntime, prepared: readonly { row: Row; id: Id }[]): Promise<Row[]> {
    const rows =
      rt.writeMode === 'write-behind'
        ? await writeBehind(this.ctx, rt, this.queue!, this.#versions, prepared)
        : await writeRows(this.ctx, rt, prepared);
    await this.coherence.publish(
      rt.schema.name,
      prepared.map(({ id }) => idKey(id)),
      'set',
    );
    this.#maybeFlush();
    return rows;
  }

  async #delete(rt: SchemaRuntime, ids: readonly Id[]): Promise<number> {
    let existed: number;
    if (rt.writeMode === 'write-behind') {
      await writeBehind(
        this.ctx,
        rt,
        this.queue!,
        this.#versions,
        ids.map((id) => ({ id })),
      );
      // Write-behind cannot know yet whether the rows existed: it reports what it was asked to delete.
      existed = ids.length;
    } else {
      existed = await deleteIds(this.ctx, rt, ids);
    }
    await this.coherence.publish(rt.schema.name, ids.map(idKey), 'delete');
    this.#maybeFlush();
    return existed;
  }

  /**
   * Writes this instance enqueued and its flusher has not applied yet (the seed's DirtyCount). 0 with
   * a push queue (Cloudflare Queues): another invocation flushes what this one enqueued, so the count
   * could only grow; `queueDepth()` is the backlog there.
   */
  get dirty(): number {
    if (!this.flushLoop) return 0;
    const c = this.ctx.counters;
    return Math.max(0, c.enqueued - c.flushed - c.deadLettered);
  }

  #maybeFlush(): void {
    if (!this.flushLoop || this.dirty < this.ctx.config.flushThreshold) return;
    const round = this.flushLoop.round().catch((err: unknown) => {
      this.ctx.counters.error('flush');
      this.ctx.config.logger.warn('write-behind flush failed', { error: String(err) });
    });
    this.ctx.config.waitUntil?.(round);
  }
}
