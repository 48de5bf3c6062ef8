import type { Row } from '../l3/types.js';
import { laterSetOver } from './batch-collapse.js';
import { entriesOf, idsOf, withMapKey } from './batch-input.js';
import type { CallParts } from './call-parts.js';
import type { AnySchema } from './call-types.js';
import type { EngineContext } from './context.js';
import { runHook } from './hooks.js';
import { type Id, idKey, normalizeId } from './ids.js';
import { type After, namedKeys, rowId, type Turn } from './key-order.js';
import { type PreparedRow, prepareRow } from './prepare.js';
import type { SchemaCache } from './schema-cache.js';

/*
 * The writes behind `set`, `setMany`, `delete` and `deleteMany`: each takes its keys' turn in call
 * order (see `KeyOrder`), prepares its rows, and runs through the schema's write mode (`Writer`).
 */

export async function setRow(parts: CallParts, schema: AnySchema, value: Row): Promise<Row> {
  const rt = parts.runtime(schema);
  const turn = rt.order.claim(namedKeys(rt.schema, [rowId(rt.schema, value)]), afterOf(rt));
  let stored: Row;
  try {
    const prepared = await prepareRow(parts.ctx, rt, value);
    const waiting = turn.wait();
    if (waiting) await waiting;
    [stored] = (await parts.writer.set(rt, [prepared], turn)) as [Row];
  } finally {
    turn.release();
  }
  if (rt.schema.hooks.afterSet) await afterSet(parts.ctx, rt, stored);
  return rt.rows.toCachedView(stored);
}

export async function setRows(
  parts: CallParts,
  schema: AnySchema,
  values: readonly Row[] | ReadonlyMap<Id, Row> | Readonly<Record<string, Row>>,
): Promise<Row[]> {
  const rt = parts.runtime(schema);
  const entries = entriesOf(values);
  const turn = rt.order.claim(
    namedKeys(
      rt.schema,
      entries.map(([mapKey, value]) => mapKey ?? rowId(rt.schema, value)),
    ),
    afterOf(rt),
  );
  let stored: Row[];
  try {
    const byKey = new Map<string, PreparedRow>();
    for (const [mapKey, value] of entries) {
      const prepared = await prepareRow(parts.ctx, rt, withMapKey(rt, mapKey, value));
      const earlier = byKey.get(prepared.key)?.row;
      byKey.delete(prepared.key);
      byKey.set(prepared.key, { ...prepared, row: laterSetOver(rt.schema, earlier, prepared.row) });
    }
    if (byKey.size === 0) return [];
    const waiting = turn.wait();
    if (waiting) await waiting;
    stored = await parts.writer.set(rt, [...byKey.values()], turn);
  } finally {
    turn.release();
  }
  for (const row of stored) await afterSet(parts.ctx, rt, row);
  return stored.map((row) => rt.rows.toCachedView(row));
}

export async function deleteRows(parts: CallParts, schema: AnySchema, ids: readonly Id[]): Promise<number> {
  const rt = parts.runtime(schema);
  const unique = new Map(
    idsOf(ids)
      .map((id) => normalizeId(rt.schema, id))
      .map((id) => [idKey(id), id]),
  );
  if (unique.size === 0) return 0;
  return inTurn(rt.order.claim(unique.keys(), afterOf(rt)), (turn) =>
    parts.writer.delete(rt, [...unique.values()], turn),
  );
}

export async function deleteRow(parts: CallParts, schema: AnySchema, id: Id): Promise<boolean> {
  const rt = parts.runtime(schema);
  const normalized = normalizeId(rt.schema, id);
  const turn = rt.order.claim([idKey(normalized)], afterOf(rt));
  return (await inTurn(turn, () => parts.writer.delete(rt, [normalized], turn))) > 0;
}

/** Runs a write once its turn comes (see `KeyOrder`), and lets the next one go however it ends. */
export async function inTurn<T>(turn: Turn, write: (turn: Turn) => Promise<T>): Promise<T> {
  try {
    const waiting = turn.wait();
    if (waiting) await waiting;
    return await write(turn);
  } finally {
    turn.release();
  }
}

export async function afterSet(ctx: EngineContext, rt: SchemaCache, row: Row): Promise<void> {
  try {
    await runHook(rt.schema.name, 'afterSet', rt.schema.hooks.afterSet, row);
  } catch (err) {
    // The write is committed: report the hook's failure rather than fail the acknowledged write.
    ctx.counters.error('hook');
    ctx.config.logger.error('afterSet hook threw', { schema: rt.schema.name, error: String(err) });
  }
}

/** How far the earlier writes of a key must be before a set or delete of this schema goes (see `KeyOrder`). */
export function afterOf(rt: SchemaCache): After {
  return rt.writeMode === 'write-behind' ? 'admitted' : 'settled';
}
