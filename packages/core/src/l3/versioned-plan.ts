import { getTableConfig } from 'drizzle-orm/pg-core';
import type { CompiledSchema } from '../schema/types.js';
import type { Row, VersionedWriteOp, VersionedWriteResult } from './types.js';
import type { VersionEntry } from './versions-table.js';

/** One write of a versioned op: a set carries its row, a delete only its id. */
export interface VersionedWrite {
  readonly schema: CompiledSchema;
  /** The id as text, as the engine's queue names it; null when a row lacks its primary key. */
  readonly key: string | null;
  readonly version: number;
  /** The primary-key value (a set's `row[pk]`). */
  readonly id: unknown;
  /** Absent for a delete. */
  readonly row?: Row;
}

export interface VersionedOpPlan {
  readonly schema: CompiledSchema;
  /** Every write of the op in order, upserts then deletes: each is reported once. */
  readonly writes: readonly VersionedWrite[];
  /** The op's writes that carry their key's highest version in the whole call. */
  readonly sets: readonly VersionedWrite[];
  readonly deletes: readonly VersionedWrite[];
}

export interface VersionedPlan {
  readonly ops: readonly VersionedOpPlan[];
  /**
   * The winning write of every (schema, key), sorted by schema then key: every call locks the keys'
   * version rows in this one order, so two concurrent calls queue instead of deadlocking.
   */
  readonly winners: readonly VersionedWrite[];
}

/**
 * The id as text, as the engine's `idKey` writes it: a set of 42 and a delete of '42' are one key.
 * @example keyText(42n); // '42'
 */
export function keyText(id: unknown): string | null {
  if (id === undefined || id === null) return null;
  return id instanceof Date ? id.toISOString() : String(id);
}

const scopes = new WeakMap<CompiledSchema, string>();

/**
 * What `_strata_versions.schema` holds for a schema's rows: its table, qualified when the table
 * names its Postgres schema (`ops.players`). The table, not the Strata schema name: two apps sharing a
 * database with a `players` schema each, in different Postgres schemas, must not share versions (a
 * newer version of one would make the other's flushes skip silently).
 * @example versionScope(defineSchema({ table: pgSchema('ops').table('players', cols) })); // 'ops.players'
 */
export function versionScope(schema: CompiledSchema): string {
  let scope = scopes.get(schema);
  if (scope === undefined) {
    const config = getTableConfig(schema.table);
    scope = config.schema ? `${config.schema}.${config.name}` : config.name;
    scopes.set(schema, scope);
  }
  return scope;
}

/** Where a (schema, key) pair is looked up: the version rows applyVersioned recorded, its winners. */
export function versionKey(schema: string, key: string | null): string {
  return JSON.stringify([schema, key]);
}

function writesOf(op: VersionedWriteOp): VersionedWrite[] {
  const { schema } = op;
  const pk = schema.primaryKey.key;
  return [
    ...op.upserts.map(({ row, version }) => ({ schema, key: keyText(row[pk]), version, id: row[pk], row })),
    ...op.deletes.map(({ id, version }) => ({ schema, key: keyText(id), version, id })),
  ];
}

const byVersionKey = (a: VersionedWrite, b: VersionedWrite): number => {
  const [x, y] = [versionScope(a.schema), versionScope(b.schema)];
  if (x !== y) return x < y ? -1 : 1;
  const [p, q] = [a.key ?? '', b.key ?? ''];
  return p < q ? -1 : p > q ? 1 : 0;
};

/**
 * Coalesces a call's writes by (schema name, key) across all its ops: the highest version wins,
 * whether set or delete (versions are unique per key; on a tie the first write stays). One version
 * statement must not touch a key twice, and an older write in the same call would lose anyway.
 */
export function planVersioned(ops: readonly VersionedWriteOp[]): VersionedPlan {
  const perOp = ops.map(writesOf);
  const best = new Map<string, VersionedWrite>();
  for (const write of perOp.flat()) {
    const at = versionKey(versionScope(write.schema), write.key);
    const current = best.get(at);
    if (!current || current.version < write.version) best.set(at, write);
  }
  const winners = new Set(best.values());
  return {
    ops: ops.map((op, i) => {
      const writes = perOp[i] ?? [];
      const won = writes.filter((w) => winners.has(w));
      return {
        schema: op.schema,
        writes,
        sets: won.filter((w) => w.row !== undefined),
        deletes: won.filter((w) => w.row === undefined),
      };
    }),
    winners: [...winners].sort(byVersionKey),
  };
}

/** The version rows the winners ask for, in the plan's lock order. */
export function versionEntries(plan: VersionedPlan): VersionEntry[] {
  return plan.winners.map((w) => ({
    schema: versionScope(w.schema),
    id: w.key,
    version: w.version,
    deleted: w.row === undefined,
  }));
}

/**
 * Per op: a write is applied when it won its key and its version was newly recorded by this call.
 * Everything else is skipped: superseded in the same call, older than the stored version, or equal
 * to it — a redelivery of what was already applied.
 */
export function versionedResults(plan: VersionedPlan, recorded: ReadonlySet<string>): VersionedWriteResult[] {
  return plan.ops.map((op) => {
    const result: VersionedWriteResult = { applied: [], skipped: [] };
    const won = new Set([...op.sets, ...op.deletes]);
    for (const write of op.writes) {
      const applied = won.has(write) && recorded.has(versionKey(versionScope(write.schema), write.key));
      (applied ? result.applied : result.skipped).push(String(write.key));
    }
    return result;
  });
}
