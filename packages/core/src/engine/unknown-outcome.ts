import type { EngineContext } from './context.js';
import { sqlState } from './context.js';
import type { SchemaRuntime } from './schema-runtime.js';

/**
 * Whether a failed L3 write may have committed all the same. Postgres answering with an error
 * (a SQLSTATE) means it did not; a cut connection, a timeout or an HTTP failure leaves it unknown:
 * the COMMIT may have reached Postgres with only its reply lost, or a timed-out statement may
 * still finish.
 */
export function outcomeUnknown(err: unknown): boolean {
  return sqlState(err) === undefined;
}

/**
 * After a write whose outcome is unknown: drops the keys' cached copies (L1 and L2, with the
 * search generation moved on in the same request), so that reads go to Postgres and get whichever
 * outcome happened. If L2 cannot be reached, the schema owes L2 a generation bump instead.
 */
export async function dropCached(
  ctx: EngineContext,
  rt: SchemaRuntime,
  keys: readonly string[],
): Promise<void> {
  for (const key of keys) {
    rt.inflight.delete(key);
    rt.l1?.delete(key);
  }
  if (!rt.l2 || keys.length === 0) return;
  try {
    const generation = await rt.generation();
    await rt.l2.deleteMany(
      keys.map((key) => rt.keys.row(generation, key)),
      [rt.keys.searchGenerationKey],
    );
  } catch (err) {
    rt.owesL2();
    ctx.tolerate(rt.schema.name, 'l2', 'drop-unknown', err);
  }
}
