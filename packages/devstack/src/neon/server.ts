import { createServer, type Server } from 'node:http';
import { KEEP_ALIVE_TIMEOUT_MS } from '../keep-alive.js';
import type { NeonEndpoint } from '../types.js';
import { neonConnectionString, parseBackingUrl } from './backing.js';
import { handleSqlRequest, sendJson } from './http-sql.js';
import { createSessionPool } from './session-pool.js';
import { createWsProxy } from './ws-proxy.js';

export interface NeonServerOptions {
  /** The backing Postgres: every HTTP query and every WebSocket goes to this server. */
  databaseUrl: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default: a free port chosen by the OS. */
  port?: number;
  /**
   * Postgres connections the HTTP endpoint keeps open at most, over all credentials and application
   * names; a request finding them all busy waits for one (up to 30 s, then 503). Default 20; the
   * PGlite fallback passes 1.
   */
  maxConnections?: number;
  /** An unused HTTP-endpoint connection is closed after this long. Default 10,000 ms. */
  idleTimeoutMs?: number;
}

const DEFAULT_MAX_CONNECTIONS = 20;
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
const ACQUIRE_TIMEOUT_MS = 30_000;

/**
 * Serves the Neon endpoints over a real Postgres on one port: `POST /sql` (the HTTP SQL API of
 * `neon()` and drizzle `neon-http`) and WebSocket upgrades at `/v2` (the wire-protocol proxy of
 * `Pool`/`Client` and drizzle `neon-serverless`). `connectionString` is the backing server's own
 * URL (user, password, database, host, port; no query parameters): the endpoints ignore its host.
 * @example
 * const neon = await startNeonServer({ databaseUrl: 'postgres://postgres@127.0.0.1:5432/test' });
 * Object.assign(neonConfig, neonLocalConfig(neon));
 * const sql = neonHttp(neon.connectionString); // neon() from @neondatabase/serverless
 * await neon.stop();
 */
export async function startNeonServer(options: NeonServerOptions): Promise<NeonEndpoint> {
  const backing = parseBackingUrl(options.databaseUrl);
  const host = options.host ?? '127.0.0.1';
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new RangeError(`maxConnections must be a positive integer, not ${maxConnections}`);
  }
  const sessions = createSessionPool(backing, {
    maxConnections,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    acquireTimeoutMs: ACQUIRE_TIMEOUT_MS,
  });
  const proxy = createWsProxy(backing);

  const server = createServer({ keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    if (path === '/sql' || path === '/sql/') {
      // handleSqlRequest answers every failure itself; the catch is for a bug, not a flow.
      handleSqlRequest(sessions, req, res).catch((err: unknown) => {
        sendJson(res, 500, { message: err instanceof Error ? err.message : String(err) });
      });
      return;
    }
    sendJson(res, 404, { message: `no route ${path}: use POST /sql or a WebSocket at /v2` });
  });
  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    if (path === '/v2' || path === '/v2/') {
      proxy.handleUpgrade(req, socket, head);
      return;
    }
    socket.on('error', () => {});
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  try {
    await listen(server, host, options.port ?? 0);
  } catch (err) {
    await sessions.close();
    throw err;
  }
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('the Neon server has no TCP address');
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets would hold server.close() open until they time out.
      server.closeAllConnections();
      await proxy.close();
      await httpClosed;
      await sessions.close();
    })();
    return stopping;
  };

  return {
    httpUrl: `http://${hostPort}/sql`,
    wsHost: hostPort,
    connectionString: neonConnectionString(backing),
    stop,
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
