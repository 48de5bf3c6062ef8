import type { Row, VersionedWriteOp } from '../l3/types.js';
import type { EngineContext } from './context.js';
import type { Id } from './ids.js';
import type { SchemaRuntime } from './schema-runtime.js';
import { dropCached, outcomeUnknown } from './unknown-outcome.js';
import type { VersionClock } from './write-behind.js';

/**
 * Write-behind while L2 is down: nothing can hold the write until the flush, so it goes to L3 now,
 * but versioned like a flush. A plain upsert would record no version, and an older write of the
 * same key still in the queue would then overwrite this one when it is flushed.
 * Resolves the plaintext rows; L1 keeps only what won (a newer write may already be in L3).
 */
export async function writeThroughVersioned(
  ctx: EngineContext,
  rt: SchemaRuntime,
  versions: VersionClock,
  writes: readonly { id: Id; key: string; plain?: Row; encrypted?: Row }[],
): Promise<Row[]> {
  const name = rt.schema.name;
  const keys = writes.map((w) => w.key);
  const upserts: VersionedWriteOp['upserts'][number][] = [];
  const deletes: VersionedWriteOp['deletes'][number][] = [];
  for (const w of writes) {
    // L2's write counter is out of reach: the clock alone orders this write (never backwards).
    const version = versions.next(ctx.config.clock.now(), 0);
    if (w.encrypted) upserts.push({ row: w.encrypted, version });
    else deletes.push({ id: w.id, version });
  }
  const op: VersionedWriteOp = { schema: rt.schema, upserts, deletes };
  let applied: Set<string>;
  try {
    const [result] = await rt.l3!.applyVersioned([op]);
    applied = new Set(result?.applied ?? []);
  } catch (err) {
    if (outcomeUnknown(err)) await dropCached(ctx, rt, keys);
    throw ctx.l3Error(name, 'write-behind fallback', err);
  }
  // L2 may still hold older copies of these rows (it is down, or failed half-way).
  rt.owesL2();
  writes.forEach(({ key, plain }) => {
    if (!rt.l1) return;
    if (plain && applied.has(key)) rt.l1.set(key, rt.ownL1Copy(plain), rt.l1TtlMs);
    else rt.l1.delete(key);
  });
  return writes.flatMap(({ plain }) => (plain ? [plain] : []));
}
