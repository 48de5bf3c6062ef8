import { type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { fnv1a } from '../hash.js';
import { sqlStateOf } from '../l3/pg-errors.js';
import type { StoredRow } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import type { Database } from './database.js';
import type { PlannedWrite, WriteGroup } from './write-plan.js';

const dialect = new PgDialect();

interface Prepared {
  execute(values: Record<string, unknown>): Promise<unknown>;
}

interface PreparingSession {
  prepareQuery(
    query: { sql: string; params: unknown[] },
    fields: undefined,
    name: string,
    isResponseInArrayMode: boolean,
  ): Prepared;
}

const placeholder = (name: string) => sql.placeholder(name) as unknown;

/**
 * One-row writes (a `set`, a `delete`), by shape: the statement is built and compiled once, then
 * each write binds its values. It runs as a named statement, which drivers that keep them per
 * connection (node-postgres, neon over WebSocket) parse and plan once per connection; the others
 * (neon-http, PGlite) run it as usual. For a one-row write, whose statement records the key's
 * version too, building and planning were most of its time. There are few shapes (one per schema,
 * columns given and write kind), and each stays prepared as long as its connection.
 *
 * A plan prepared before a migration changed the table fails with 0A000 ("cached plan must not
 * change result type"): the write then runs built afresh, and its shape gets a new name.
 */
export class OneRowStatements {
  readonly #prepared = new Map<string, Prepared>();
  #epoch = 0;

  constructor(readonly db: Database) {}

  /** Runs the one write of `group`, whose statement `build` makes (for this or a template group). */
  async run(group: WriteGroup, build: (group: WriteGroup) => SQL): Promise<unknown> {
    const session = (this.db as { _?: { session?: PreparingSession } })._?.session;
    if (typeof session?.prepareQuery !== 'function') return this.db.execute(build(group));
    const write = group.writes[0]!;
    const shape = JSON.stringify([
      group.schema.identity,
      group.given,
      group.replace,
      group.folded,
      group.floored,
      group.epoch !== undefined,
      group.columns?.map((c) => c.key) ?? null,
      // A schema narrower than its table: its replaces reset those columns, its sets name theirs.
      group.unmapped ?? null,
      write.sent ?? null,
      // The writing app is in the statement (a bound constant of its capture mark).
      group.app ?? null,
    ]);
    let prepared = this.#prepared.get(shape);
    if (!prepared) {
      const query = dialect.sqlToQuery(build(template(group)));
      prepared = session.prepareQuery(query, undefined, statementName(query.sql, this.#epoch), false);
      this.#prepared.set(shape, prepared);
    }
    try {
      return await prepared.execute(values(group, write));
    } catch (error) {
      if (sqlStateOf(error) !== '0A000') throw error;
      this.#prepared.clear();
      this.#epoch += 1;
      return this.db.execute(build(group));
    }
  }
}

/** The reads of one row, by schema: prepared once, as the writes above. */
export class OneRowReads {
  readonly #prepared = new Map<string, Prepared>();
  #epoch = 0;

  async find(
    schema: CompiledSchema,
    id: unknown,
    build: () => { prepare(name: string): Prepared; toSQL(): { sql: string } },
    fallback: () => Promise<StoredRow[]>,
  ): Promise<StoredRow[]> {
    let prepared = this.#prepared.get(schema.identity);
    if (!prepared) {
      const query = build();
      prepared = query.prepare(statementName(query.toSQL().sql, this.#epoch));
      this.#prepared.set(schema.identity, prepared);
    }
    const pk = schema.primaryKey.column;
    try {
      return (await prepared.execute({ id: id === null ? null : pk.mapToDriverValue(id) })) as StoredRow[];
    } catch (error) {
      if (sqlStateOf(error) !== '0A000') throw error;
      this.#prepared.clear();
      this.#epoch += 1;
      return fallback();
    }
  }
}

/** A name per statement text (64 bits of FNV-1a), and per epoch. */
function statementName(text: string, epoch: number): string {
  return `strata_${fnv1a(text).toString(36)}${fnv1a(text, 0x01234567).toString(36)}_${epoch}`;
}

/** The group with its one write's values replaced by placeholders. */
function template(group: WriteGroup): WriteGroup {
  const w = group.writes[0]!;
  const pk = group.schema.primaryKey;
  const row =
    group.columns && Object.fromEntries(group.columns.map((c) => [c.key, placeholder(`r_${c.key}`)]));
  const t: PlannedWrite = {
    ...w,
    ...(row ? { row } : { id: placeholder(`r_${pk.key}`) }),
    ...(w.version !== undefined && { version: placeholder('v') as number }),
    ...(group.folded && { since: placeholder('n') as number, cols: placeholder('a') as string }),
    ...(group.floored && { floor: placeholder('f') as number }),
  };
  return {
    ...group,
    ...(group.epoch !== undefined && { epoch: placeholder('e') as number }),
    writes: [t],
    parts: [[t]],
    recordset: false,
  };
}

/** The values of the placeholders, each through its column's encoder (null stays null). */
function values(group: WriteGroup, w: PlannedWrite): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const columns = group.columns ?? [group.schema.primaryKey];
  for (const c of columns) {
    const value = w.row ? w.row[c.key] : w.id;
    out[`r_${c.key}`] = value === null || value === undefined ? null : c.column.mapToDriverValue(value);
  }
  if (w.version !== undefined) out.v = w.version;
  if (group.folded) {
    out.n = w.since ?? w.version;
    out.a = w.cols ?? null;
  }
  if (group.floored) out.f = w.floor ?? null;
  if (group.epoch !== undefined) out.e = group.epoch;
  return out;
}
