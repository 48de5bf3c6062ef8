import type { CapturedChange } from '../capture/types.js';
import { isStrataError, StrataError } from '../errors.js';
import { adminOperation } from './admin-op.js';
import { invalidateSchema } from './cache-control.js';
import type { ChangeTarget } from './change-target.js';
import { idKey, normalizeId } from './ids.js';
import type { SchemaCache } from './schema-cache.js';
import type { Strata } from './strata.js';
import { supersede } from './supersede.js';

/**
 * Applies changes made to registered tables outside Strata, so no cache serves the rows they
 * replaced: per schema, one L2 request marks the keys superseded at their new versions (a read
 * that began before the change cannot put the old row back; the next read loads the new one),
 * L1 drops them here and, through the bus, on the other instances; a truncate, or a ddl (the
 * table's definition changed: ids and versions null), drops the whole schema. Changes of tables no
 * registered schema has are skipped and counted (they may be another app's). The relay
 * (`capture.relay`) applies what Postgres captured itself; call this to feed your own CDC (Debezium,
 * Supabase realtime, logical replication). Versions must be the ones `_strata_versions` holds after
 * the change (bump it in the same transaction as the write; on a write-behind table read it and
 * never bump it: its versions come from Redis).
 * Malformed input rejects with VALIDATION_FAILED and applies nothing; a closed instance rejects
 * with UNAVAILABLE. An admin operation, in `@strata/core/admin` so that a Worker that never calls
 * it does not bundle it.
 * @example
 * import { applyChanges } from '@strata/core/admin';
 * // from a CDC event: the row's new version, read from _strata_versions in the same transaction
 * await applyChanges(strata, [{ schema: 'players', ids: ['p1'], versions: [42], op: 'update' }]);
 */
export function applyChanges(strata: Strata, changes: readonly CapturedChange[]): Promise<void> {
  return adminOperation(strata, 'applyChanges', {}, ({ engine }) => applyCapturedChanges(engine, changes));
}

/**
 * What one call does to one schema: keys to mark at their newest version, and whether every row
 * may have changed (a truncate, or a ddl: a definition change that alters what rows read back as).
 */
interface SchemaChanges {
  readonly cache: SchemaCache;
  readonly versions: Map<string, number>;
  everyRow: boolean;
}

const OPS: ReadonlySet<string> = new Set(['insert', 'update', 'delete', 'truncate', 'ddl']);
/** Ops that name no key: they changed (or may have changed) every row of the table. */
const EVERY_ROW: ReadonlySet<string> = new Set(['truncate', 'ddl']);

/**
 * How `applyCapturedChanges` treats markers L2 did not take. Either way as any missed L2 write: the
 * generations of the buckets that missed them move on before their next use (only theirs: the
 * other buckets' rows are marked and correct), and the call counts ONE L2 error, however many
 * schemas and buckets failed, logged once naming them. By default (`applyChanges`) the call then
 * resolves. `allMarked` (the relay) rejects with L2_UNAVAILABLE once every schema and bucket has
 * been tried, so that the caller does not record the changes as applied (the relay's cursor stays
 * and the next pass applies them again, which is harmless).
 */
export interface ApplyOptions {
  readonly allMarked?: boolean;
}

/**
 * Applies changes made to registered tables outside Strata (see `applyChanges`): checks the
 * whole batch first (a bad change throws VALIDATION_FAILED and nothing is applied), then per
 * schema one L2 request per bucket touched (in parallel) marks the changed keys superseded at
 * their versions, L1 drops older copies, and one bus message tells the other instances; a truncate
 * or a ddl (the table's definition changed, e.g. `ALTER COLUMN … TYPE … USING`) moves the schema's
 * generation on. Every schema is tried before a failure is thrown (see {@link ApplyOptions}).
 */
export async function applyCapturedChanges(
  target: ChangeTarget,
  changes: unknown,
  { allMarked = false }: ApplyOptions = {},
): Promise<void> {
  const { ctx, coherence, counters } = target;
  const bySchema = group(target.lookup, changes);
  let unknown = 0;
  for (const entry of bySchema.values()) if (!entry) unknown += 1;
  if (unknown > 0) {
    counters.unknownSchemasSkipped += unknown;
    ctx.config.logger.debug('captured changes of unregistered tables skipped', { count: unknown });
  }
  // Schema name -> the buckets L2 missed, and the first failure: counted once for the call.
  const unmarked = new Map<string, readonly number[]>();
  let failure: unknown;
  const settled = await Promise.allSettled(
    [...bySchema.values()].map(async (entry) => {
      if (!entry) return;
      const { cache, versions, everyRow } = entry;
      const keys = [...versions.keys()];
      const list = [...versions.values()];
      if (keys.length > 0) {
        const missed = await supersede(cache, keys, list);
        if (missed) {
          unmarked.set(cache.schema.name, missed.buckets);
          failure ??= missed.error;
        }
        // Sent either way: dropping other instances' L1 copies is never wrong.
        await coherence.publish(cache, keys, list, 'invalidate');
        counters.idsInvalidated += keys.length;
      }
      // After the markers: they keep ordering fills by version in the new generation too.
      if (everyRow) await invalidateSchema(cache, coherence);
    }),
  );
  if (unmarked.size > 0) {
    const names = [...unmarked.keys()].join(', ');
    ctx.tolerate(names, 'l2', 'mark', failure, { buckets: Object.fromEntries(unmarked) });
  }
  for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
  if (allMarked && unmarked.size > 0) {
    const missed = [...unmarked].map(([name, buckets]) => `${name} (bucket ${buckets.join(', ')})`);
    throw new StrataError(
      'L2_UNAVAILABLE',
      `applyChanges: L2 did not take every marker of ${missed.join('; ')}; not applied`,
      { cause: failure, details: { schemas: [...unmarked.keys()], buckets: Object.fromEntries(unmarked) } },
    );
  }
  counters.changesApplied += (changes as readonly unknown[]).length - unknown;
}

/**
 * The changes by schema identity (undefined: unregistered, counted per change), each key at the
 * newest version any change gave it. Throws VALIDATION_FAILED at the first malformed change.
 */
function group(
  lookup: (identity: string) => SchemaCache | undefined,
  changes: unknown,
): Map<string | number, SchemaChanges | undefined> {
  if (!Array.isArray(changes)) throw invalid('changes must be an array of captured changes');
  const out = new Map<string | number, SchemaChanges | undefined>();
  changes.forEach((change: unknown, at) => {
    let c: CapturedChange;
    try {
      c = checked(change, at);
    } catch (err) {
      // A getter or proxy that throws is malformed input too, not an error of Strata's.
      throw isStrataError(err) ? err : invalid(`change ${at}: its fields could not be read`, err);
    }
    const cache = lookup(c.schema);
    if (!cache) {
      // Each unknown change counts: keyed by position so that none merges with another.
      out.set(at, undefined);
      return;
    }
    let entry = out.get(c.schema);
    if (!entry) {
      entry = { cache, versions: new Map(), everyRow: false };
      out.set(c.schema, entry);
    }
    if (EVERY_ROW.has(c.op)) {
      entry.everyRow = true;
      return;
    }
    c.ids!.forEach((id, i) => {
      let key: string;
      try {
        key = idKey(normalizeId(cache.schema, id));
      } catch (err) {
        throw invalid(`change ${at}: id ${JSON.stringify(id)} is not a key of ${cache.schema.name}`, err);
      }
      const version = c.versions![i]!;
      if ((entry.versions.get(key) ?? -1) < version) entry.versions.set(key, version);
    });
  });
  return out;
}

/** The change at `at` if its shape is a CapturedChange's, else VALIDATION_FAILED naming what is wrong. */
function checked(change: unknown, at: number): CapturedChange {
  if (typeof change !== 'object' || change === null) throw invalid(`change ${at} is not an object`);
  // Each field read once: the change returned is made of what was checked.
  const { schema, ids, versions, op } = change as Record<string, unknown>;
  if (typeof schema !== 'string' || schema === '') throw invalid(`change ${at}: schema must be a string`);
  if (typeof op !== 'string' || !OPS.has(op))
    throw invalid(`change ${at}: op must be insert, update, delete, truncate or ddl`);
  if (EVERY_ROW.has(op)) {
    if (ids != null || versions != null) throw invalid(`change ${at}: a ${op} has no ids or versions`);
    return { schema, op, ids: null, versions: null } as CapturedChange;
  }
  if (!Array.isArray(ids) || !Array.isArray(versions) || ids.length !== versions.length)
    throw invalid(`change ${at}: ids and versions must be arrays of one length`);
  if (!ids.every((id) => typeof id === 'string' && id !== ''))
    throw invalid(`change ${at}: every id must be a non-empty string`);
  if (!versions.every((v) => Number.isSafeInteger(v) && (v as number) >= 0))
    throw invalid(`change ${at}: every version must be a safe integer >= 0 (at most 2^53 - 1)`);
  return { schema, op, ids, versions } as CapturedChange;
}

function invalid(message: string, cause?: unknown): StrataError {
  return new StrataError('VALIDATION_FAILED', `applyChanges: ${message}`, {
    ...(cause !== undefined && { cause }),
    details: { field: 'changes' },
  });
}
