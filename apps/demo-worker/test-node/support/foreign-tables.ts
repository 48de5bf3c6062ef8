import type pg from 'pg';

/**
 * Another app's tables in `public` of a database the demo is pushed into, among them a Strata
 * bookkeeping of its own (`_strata_migrations` with a serial id, whose sequence drizzle-kit would
 * drop too). Nothing the demo does may change them. (None is named like a demo table: drizzle-kit
 * would then stop at a rename prompt instead of dropping, hiding what an unscoped push does.)
 */
const FOREIGN_TABLES: Record<string, string> = {
  foreign_app_rows: 'id int PRIMARY KEY, note text',
  _strata_versions: 'id int PRIMARY KEY, note text',
  _strata_writers: 'id int PRIMARY KEY, note text',
  _strata_migrations: 'id serial PRIMARY KEY, note text',
};
const ROWS = 100;

export interface PublicSnapshot {
  /** Table -> its columns and row count. */
  tables: Record<string, { columns: string[]; rows: number }>;
  sequences: string[];
}

/** What `public` holds right after putForeignTables, and must still hold afterwards. */
export const FOREIGN_SNAPSHOT: PublicSnapshot = {
  tables: Object.fromEntries(
    Object.keys(FOREIGN_TABLES).map((name) => [name, { columns: ['id', 'note'], rows: ROWS }]),
  ),
  sequences: ['_strata_migrations_id_seq'],
};

/** Creates the foreign tables in `public`, `ROWS` rows each. */
export async function putForeignTables(client: pg.Client | pg.Pool): Promise<void> {
  for (const [name, columns] of Object.entries(FOREIGN_TABLES)) {
    await client.query(`CREATE TABLE public."${name}" (${columns})`);
    await client.query(
      `INSERT INTO public."${name}" (id, note) SELECT n, 'row ' || n FROM generate_series(1, ${ROWS}) n`,
    );
  }
}

/** Every table of `public` (columns, row count) and every sequence there. */
export async function publicSnapshot(client: pg.Client | pg.Pool): Promise<PublicSnapshot> {
  const { rows: columns } = await client.query<{ table_name: string; column_name: string }>(
    `select table_name, column_name from information_schema.columns
      where table_schema = 'public' order by table_name, ordinal_position`,
  );
  const tables: PublicSnapshot['tables'] = {};
  for (const { table_name, column_name } of columns) {
    tables[table_name] ??= { columns: [], rows: 0 };
    tables[table_name].columns.push(column_name);
  }
  for (const [name, table] of Object.entries(tables)) {
    const { rows } = await client.query<{ n: string }>(`select count(*) as n from public."${name}"`);
    table.rows = Number(rows[0]?.n);
  }
  const { rows: sequences } = await client.query<{ sequencename: string }>(
    `select sequencename from pg_sequences where schemaname = 'public' order by 1`,
  );
  return { tables, sequences: sequences.map((s) => s.sequencename) };
}
