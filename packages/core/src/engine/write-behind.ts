import { StrataError } from '../errors.js';
import type { Row } from '../l3/types.js';
import type { QueuedWrite, WriteQueue } from '../queue/types.js';
import { applyClientDefaults } from './client-defaults.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { ABSENT_MARKER } from './keys.js';
import { ABSENT, type SchemaRuntime } from './schema-runtime.js';
import { writeThroughVersioned } from './write-behind-fallback.js';
import { beginWrites, endWrites } from './write-path.js';

/** Orders write-behind writes: wall-clock ms × 1000 plus the schema's L2 write counter, never going back. */
export class VersionClock {
  #last = 0;

  next(nowMs: number, counter: number): number {
    this.#last = Math.max(this.#last + 1, nowMs * 1000 + (counter % 1000));
    return this.#last;
  }
}

/**
 * Write-behind: L2 (row + the schema's write counter, one request) and L1 at once, then the write
 * is enqueued; the caller is acknowledged only once the queue holds it. If the queue refuses, the
 * cached copies are withdrawn (reads fall back to what L3 durably has) and QUEUE_UNAVAILABLE is thrown.
 * When L2 is down the write goes to L3 at once, versioned (`writeThroughVersioned`). Resolves the
 * plaintext rows.
 */
export async function writeBehind(
  ctx: EngineContext,
  rt: SchemaRuntime,
  queue: WriteQueue,
  versions: VersionClock,
  writes: readonly { id: Id; row?: Row }[],
): Promise<Row[]> {
  const name = rt.schema.name;
  const l2 = rt.l2!;
  const keys = writes.map(({ id }) => idKey(id));
  const now = new Date(ctx.config.clock.now());
  const plain = writes.map(({ row }) => (row ? applyClientDefaults(rt.schema, row, now) : undefined));
  const encrypted = await Promise.all(
    plain.map((row, i) => (row ? rt.rows.encryptRow(row, keys[i]!) : undefined)),
  );
  beginWrites(rt, keys);
  try {
    let counter: number;
    const rowKeys: string[] = [];
    try {
      const generation = await rt.generation();
      for (const key of keys) rowKeys.push(rt.keys.row(generation, key));
      const [bumped] = await l2.setMany(
        encrypted.map((row, i) => ({
          key: rowKeys[i]!,
          value: row ? rt.rows.toL2(row) : ABSENT_MARKER,
          ttlMs: rt.l2TtlMs,
        })),
        [rt.keys.searchGenerationKey],
      );
      counter = bumped ?? 0;
    } catch (err) {
      ctx.tolerate(name, 'l2', 'write-behind', err);
      return await writeThroughVersioned(
        ctx,
        rt,
        versions,
        writes.map(({ id }, i) => ({ id, key: keys[i]!, plain: plain[i], encrypted: encrypted[i] })),
      );
    }
    // L1 gets a decoded copy: never objects the caller still holds (L1 freezes what it keeps).
    plain.forEach((row, i) => {
      const own = row ? rt.ownL1Copy(row) : ABSENT;
      rt.l1?.set(keys[i]!, own, rt.l1TtlMs);
    });
    const queued: QueuedWrite[] = writes.map(({ row }, i) => ({
      schema: name,
      id: keys[i]!,
      op: row ? 'set' : 'delete',
      ...(row && { row: rt.rows.toQueue(encrypted[i]!) }),
      version: versions.next(ctx.config.clock.now(), counter),
    }));
    try {
      await queue.enqueue(queued);
    } catch (err) {
      for (const key of keys) rt.l1?.delete(key);
      await l2.deleteMany(rowKeys).catch((e: unknown) => {
        // L2 keeps a value nobody was told was written: orphan it with the next generation.
        rt.owesL2();
        ctx.tolerate(name, 'l2', 'withdraw', e);
      });
      throw new StrataError('QUEUE_UNAVAILABLE', `schema ${name}: the write queue did not take the write`, {
        cause: err,
        details: { schema: name },
      });
    }
    ctx.counters.enqueued += writes.length;
    return plain.filter((row): row is Row => row !== undefined);
  } finally {
    endWrites(rt, keys);
  }
}
