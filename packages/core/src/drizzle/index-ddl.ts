import { is, SQL } from 'drizzle-orm';
import { type Index, IndexedColumn, type PgColumn } from 'drizzle-orm/pg-core';
import { StrataError } from '../errors.js';
import type { IndexDefinition } from '../schema/types.js';
import { renderSql } from './column-ddl.js';
import { quoteIdentifier } from './identifiers.js';

/** An index migrate() keeps: its name (what introspection compares) and the statement that creates it. */
export interface IndexModel {
  readonly name: string;
  readonly unique: boolean;
  /** SQL column names; undefined for an expression. */
  readonly columns: readonly (string | undefined)[];
  readonly statement: string;
}

/** Method and operator-class names are developer code, but still only ever bare (optionally dotted) words. */
function keyword(value: string, what: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(value)) {
    throw new StrataError('INVALID_MODEL', `index ${what} ${JSON.stringify(value)} is not a plain name`);
  }
  return value;
}

function createIndex(
  name: string,
  unique: boolean,
  target: string,
  parts: { method?: string; columns: string[]; where?: SQL },
): string {
  const using =
    parts.method !== undefined && parts.method !== 'btree' ? ` USING ${keyword(parts.method, 'method')}` : '';
  const where = parts.where !== undefined ? ` WHERE ${renderSql(parts.where)}` : '';
  return (
    `CREATE ${unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${quoteIdentifier(name)} ON ` +
    `${target}${using} (${parts.columns.join(', ')})${where}`
  );
}

function indexedColumn(column: IndexedColumn): string {
  if (column.name === undefined) throw new StrataError('INVALID_MODEL', 'an index column has no name');
  const parts = [quoteIdentifier(column.name)];
  const { opClass, order, nulls } = column.indexConfig;
  if (opClass !== undefined) parts.push(keyword(opClass, 'operator class'));
  if (order === 'desc') parts.push('DESC');
  // Postgres' defaults are NULLS LAST for ASC and NULLS FIRST for DESC: say only what differs.
  if (nulls === 'first' && order !== 'desc') parts.push('NULLS FIRST');
  if (nulls === 'last' && order === 'desc') parts.push('NULLS LAST');
  return parts.join(' ');
}

/**
 * An index declared on the Drizzle table. Unnamed ones get drizzle-kit's default name
 * (`{table}_{columns}_index`), so a table `drizzle-kit push` created is seen as up to date.
 */
export function drizzleIndexModel(index: Index, tableName: string, target: string): IndexModel {
  const { config } = index;
  const columns = config.columns.map((c) => (is(c, IndexedColumn) ? c.name : undefined));
  const rendered = config.columns.map((c) => {
    if (is(c, SQL)) return `(${renderSql(c)})`;
    if (is(c, IndexedColumn)) return indexedColumn(c);
    throw new StrataError('INVALID_MODEL', `table ${tableName}: an index column is neither a column nor SQL`);
  });
  if (config.name === undefined && columns.some((c) => c === undefined)) {
    throw new StrataError('INVALID_MODEL', `table ${tableName}: an index on an expression needs a name`);
  }
  const name = config.name ?? `${tableName}_${columns.join('_')}_index`;
  // `only` is ignored as drizzle-kit ignores it: Drizzle sets it for every `.using()` index, and ON ONLY
  // would leave a partitioned table's partitions without the index.
  const statement = createIndex(name, config.unique, target, {
    ...(config.method !== undefined && { method: config.method }),
    columns: rendered,
    ...(config.where !== undefined && { where: config.where }),
  });
  return { name, unique: config.unique, columns, statement };
}

/** An index from the schema's `indexes` option; default name `{table}_{columns}_idx`. */
export function schemaIndexModel(
  definition: IndexDefinition,
  columnsByKey: ReadonlyMap<string, PgColumn>,
  tableName: string,
  target: string,
): IndexModel {
  if (definition.fields.length === 0) {
    throw new StrataError('INVALID_MODEL', `table ${tableName}: an index needs at least one field`);
  }
  const columns = definition.fields.map((key) => {
    const column = columnsByKey.get(key);
    if (!column)
      throw new StrataError('INVALID_MODEL', `table ${tableName}: index field ${key} is not a column`);
    return column.name;
  });
  const name = definition.name ?? `${tableName}_${columns.join('_')}_idx`;
  const unique = definition.unique === true;
  const statement = createIndex(name, unique, target, { columns: columns.map(quoteIdentifier) });
  return { name, unique, columns, statement };
}
