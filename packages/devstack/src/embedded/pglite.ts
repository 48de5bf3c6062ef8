import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Stoppable } from '../types.js';

export interface EmbeddedPostgres extends Stoppable {
  /** A Postgres connection string for the wire-protocol server (user and database are `postgres`). */
  url: string;
}

export interface EmbeddedPostgresOptions {
  /** Where PGlite keeps its files; in memory when omitted. */
  dataDir?: string;
  host?: string;
  /** Default: a free port chosen by the OS. */
  port?: number;
  /**
   * Concurrent wire connections. PGlite runs one query at a time whatever this is (pglite-socket
   * queues them and keeps a transaction on the connection that opened it), so this only bounds sockets.
   */
  maxConnections?: number;
}

/**
 * PGlite (Postgres compiled to WASM) served over the Postgres wire protocol, for machines with no
 * Postgres: the Neon endpoints sit on top of it exactly as they sit on a real server.
 * @example const pg = await startEmbeddedPostgres(); // pg.url -> postgres://postgres:postgres@127.0.0.1:54xx/postgres
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgres> {
  const db = options.dataDir ? new PGlite(options.dataDir) : new PGlite();
  await db.waitReady;
  const host = options.host ?? '127.0.0.1';
  const server = new PGLiteSocketServer({
    db,
    host,
    port: options.port ?? 0,
    maxConnections: options.maxConnections ?? 32,
  });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  return {
    url: `postgres://postgres:postgres@${host}:${port}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
