import type { StoredRow } from '../l3/types.js';
import type { CompiledColumn } from '../schema/types.js';
import { decoderOf } from './column-decoder.js';
import type { Statement } from './transactions.js';

/** What the drivers' sessions share (`PgSession.prepareQuery`): a statement with a result mapper of ours. */
interface MappingSession {
  prepareQuery(
    query: { sql: string; params: unknown[] },
    fields: undefined,
    name: undefined,
    isResponseInArrayMode: true,
    customResultMapper: (rows: unknown[][]) => StoredRow[],
  ): { execute(): Promise<StoredRow[]>; setToken?(token: unknown): unknown };
}

/** What a Drizzle select builder carries: the session it runs on (a replica's, under `withReplicas`) and its auth token. */
interface SelectInternals {
  session?: Partial<MappingSession>;
  authToken?: unknown;
}

/** A select whose list is `columns` then the row's version, as `selection` in search.ts builds it. */
export type VersionedSelect = Statement<StoredRow[]> & { toSQL(): { sql: string; params: unknown[] } };

/**
 * Runs a versioned select and maps its rows itself: each value through its column's own decoder
 * (as Drizzle does: Date, bigint, bytes, also where the driver returns text), the last value the
 * version. Drizzle's generic mapper finds each field's decoder by walking class chains and builds
 * nested objects along paths, per value: for a search of 1,000 rows that was a millisecond on the
 * caller's path. It runs on the builder's own session, with its auth token, as the builder would
 * (under `withReplicas()` the select chose a replica); a builder without one that takes a result
 * mapper runs as it is.
 */
export function runVersionedSelect(
  select: VersionedSelect,
  columns: readonly CompiledColumn[],
): Promise<StoredRow[]> {
  return runMapped(select, select.toSQL(), (rows) => mapRows(rows, columns)) ?? Promise.resolve(select);
}

/**
 * Runs `query` (SQL of ours, not the builder's) on the session and auth token the builder `via`
 * would run on (under `withReplicas()` its replica), each row mapped by `map` from an array of raw
 * values. Undefined when the builder's session takes no result mapper.
 */
export function runMapped<T>(
  via: object,
  query: { sql: string; params: unknown[] },
  map: (rows: unknown[][]) => T[],
): Promise<T[]> | undefined {
  const { session, authToken } = via as SelectInternals;
  if (typeof session?.prepareQuery !== 'function') return undefined;
  const prepared = session.prepareQuery(query, undefined, undefined, true, map as never);
  if (authToken !== undefined) prepared.setToken?.(authToken);
  return prepared.execute() as unknown as Promise<T[]>;
}

/** Raw rows of a versioned select (its columns, then the version) as stored rows. */
export function mapRows(rows: readonly unknown[][], columns: readonly CompiledColumn[]): StoredRow[] {
  const n = columns.length;
  const keys = columns.map((c) => c.key);
  const decoders = columns.map(decoderOf);
  const out: StoredRow[] = new Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const values = rows[r]!;
    const row: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const raw = values[i];
      row[keys[i]!] = raw === null ? null : decoders[i]!.mapFromDriverValue(raw);
    }
    out[r] = { row, version: Number(values[n] ?? 0) };
  }
  return out;
}
