/** Where the backing Postgres listens, and the credentials `databaseUrl` carries. */
export interface BackingPostgres {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
}

/**
 * Reads host, port and credentials out of a `postgres://` URL. Query parameters (sslmode, options)
 * are dropped: the local endpoints always speak plain TCP to the backing server.
 * @example parseBackingUrl('postgres://postgres@127.0.0.1:5432/test').port // 5432
 */
export function parseBackingUrl(databaseUrl: string): BackingPostgres {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new Error('databaseUrl is not a valid postgres:// URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(`databaseUrl must use postgres:// or postgresql://, not ${url.protocol}`);
  }
  const user = decodeURIComponent(url.username) || 'postgres';
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || user;
  return {
    // URL keeps IPv6 literals bracketed; net.connect wants them bare.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: url.port ? Number(url.port) : 5432,
    user,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database,
  };
}

/**
 * The connection string handed to Neon clients: the backing server's own user, password, database,
 * host and port, without query parameters. The Neon endpoints ignore the host and port (they always
 * dial the backing server), so the same string also works with plain `pg` against the backing server.
 * @example neonConnectionString(parseBackingUrl('postgres://postgres@127.0.0.1:5432/test'))
 * // 'postgresql://postgres@127.0.0.1:5432/test'
 */
export function neonConnectionString(backing: BackingPostgres): string {
  const auth =
    encodeURIComponent(backing.user) +
    (backing.password === undefined ? '' : `:${encodeURIComponent(backing.password)}`);
  const host = backing.host.includes(':') ? `[${backing.host}]` : backing.host;
  return `postgresql://${auth}@${host}:${backing.port}/${encodeURIComponent(backing.database)}`;
}
