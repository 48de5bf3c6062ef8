import type { Coherence } from './coherence.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import { ABSENT_MARKER } from './keys.js';
import { ABSENT, type SchemaRuntime } from './schema-runtime.js';

/** Whether a row exists, asking the tiers in order and loading no columns from L3. */
export async function existsOne(ctx: EngineContext, rt: SchemaRuntime, id: Id): Promise<boolean> {
  const key = idKey(id);
  const cached = rt.l1?.get(key);
  if (cached !== undefined) return cached !== ABSENT;
  if (rt.l2) {
    try {
      const [entry] = await rt.l2.getMany([await rt.l2Key(key)]);
      if (entry) return entry.value !== ABSENT_MARKER;
    } catch (err) {
      ctx.tolerate(rt.schema.name, 'l2', 'exists', err);
    }
  }
  if (!rt.l3) return false;
  try {
    return await rt.l3.exists(rt.schema, id);
  } catch (err) {
    throw ctx.l3Error(rt.schema.name, 'exists', err);
  }
}

/** Drops one key from L1 and L2, fenced like a write so a read in flight cannot put it back. */
export async function invalidateOne(rt: SchemaRuntime, coherence: Coherence, key: string): Promise<void> {
  rt.fence.beginWrite(key);
  try {
    rt.inflight.delete(key);
    rt.l1?.delete(key);
    if (rt.l2) await rt.l2.deleteMany([await rt.l2Key(key)]);
  } finally {
    rt.fence.endWrite(key);
  }
  await coherence.publish(rt.schema.name, [key], 'invalidate');
}

/**
 * One INCR moves the schema's L2 generation on (every key holds it, so all cached rows are
 * orphaned at once), L1 is cleared, and the other instances are told to do the same and re-read
 * the generation. Without a bus, they re-read it within 5 s; their L1 entries live out their TTL.
 */
export async function invalidateSchema(rt: SchemaRuntime, coherence: Coherence): Promise<void> {
  rt.inflight.clear();
  rt.l1?.clear();
  if (rt.l2) rt.setGeneration(await rt.l2.incr(rt.keys.generationKey));
  await coherence.publish(rt.schema.name, null, 'invalidateAll');
}
