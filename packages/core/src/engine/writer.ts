import { StrataError } from '../errors.js';
import type { L2Tier } from '../l2/types.js';
import type { Row } from '../l3/types.js';
import type { WriteQueue } from '../queue/types.js';
import type { Coherence } from './coherence.js';
import type { EngineContext } from './context.js';
import type { FlushLoop } from './flush-loop.js';
import type { Id } from './ids.js';
import { idKey } from './ids.js';
import type { PreparedRow } from './prepare.js';
import { QueueColocation } from './queue-colocation.js';
import type { SchemaCache } from './schema-cache.js';
import { writeBehind } from './write-behind.js';
import { type KeyedWrite, type WriteResult, writeThrough } from './write-through.js';

/**
 * Routes writes by the schema's write mode, tells the other instances (with each key's version), and
 * starts a flush when this instance has `writeBehind.threshold` writes waiting. Refuses writes
 * once closing, and lets `close` wait for those running.
 */
export class Writer {
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #colocation: QueueColocation | undefined;
  #closing = false;

  constructor(
    readonly ctx: EngineContext,
    readonly coherence: Coherence,
    readonly queue: WriteQueue | undefined,
    readonly flushLoop: FlushLoop | undefined,
    l2: L2Tier | undefined,
  ) {
    this.#colocation = queue && new QueueColocation(ctx, queue, l2);
  }

  async set(cache: SchemaCache, prepared: readonly PreparedRow[]): Promise<Row[]> {
    const result = await this.#track(() =>
      this.#write(
        cache,
        prepared.map((p) => ({ key: p.key, id: p.id, row: p.row })),
        'set',
      ),
    );
    return result.rows;
  }

  async delete(cache: SchemaCache, ids: readonly Id[]): Promise<number> {
    const writes = ids.map((id) => ({ key: idKey(id), id }));
    return (await this.#track(() => this.#write(cache, writes, 'delete'))).existed;
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

  async #write(
    cache: SchemaCache,
    writes: readonly KeyedWrite[],
    op: 'set' | 'delete',
  ): Promise<WriteResult> {
    const result =
      cache.writeMode === 'write-behind'
        ? await writeBehind(this.ctx, cache, this.queue!, this.#colocation!, writes)
        : await writeThrough(this.ctx, cache, writes);
    await this.coherence.publish(
      cache,
      writes.map((w) => w.key),
      result.versions,
      op,
    );
    this.#maybeFlush();
    return result;
  }

  /**
   * Writes this instance enqueued and its flusher has not applied yet (DirtyCount in the Go library
   * Strata). 0 with a push queue (Cloudflare Queues): another invocation flushes what this one
   * enqueued, so the count could only grow; `queueDepth()` is the backlog there.
   */
  get dirty(): number {
    if (!this.flushLoop) return 0;
    const c = this.ctx.counters;
    return Math.max(0, c.enqueued - c.flushed - c.deadLettered);
  }

  #maybeFlush(): void {
    if (!this.flushLoop || this.dirty < this.ctx.config.writeBehind.threshold) return;
    const round = this.flushLoop.round().catch((err: unknown) => {
      this.ctx.counters.error('flush');
      this.ctx.config.logger.warn('write-behind flush failed', { error: String(err) });
    });
    this.ctx.track(round);
  }
}
