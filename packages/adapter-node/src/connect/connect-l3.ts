import { StrataError } from '@strata/core';
import type { Database } from '@strata/core/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { Driver } from './driver.js';
import { releaseEndedClients } from './release-ended-clients.js';

export interface L3Connection {
  db: Database;
  /** Ends what was opened (the pool); resolves once every connection is closed. */
  end(): Promise<void>;
}

export interface ConnectL3Options {
  databaseUrl: string;
  driver?: Driver;
  /** Called for errors of idle connections (a dropped socket), which no query would report. */
  onError: (error: Error) => void;
  /** Pool size for the 'pg' and 'neon-ws' pools. */
  maxConnections?: number;
  /** 'pg': the sessions' `idle_in_transaction_session_timeout`; 0 or absent leaves the server's. */
  idleInTransactionTimeoutMs?: number;
}

/** 'pg' for postgres:// and postgresql:// URLs; anything else must name its driver. */
export function defaultDriver(databaseUrl: string): Driver {
  if (/^postgres(ql)?:\/\//i.test(databaseUrl)) return 'pg';
  throw new StrataError('INVALID_CONFIG', 'databaseUrl is not a postgres:// URL: give `driver` explicitly', {
    details: { field: 'driver' },
  });
}

/**
 * Opens the Drizzle database `createStrata` builds its L3 on. The Neon drivers are loaded only when
 * asked for: `@neondatabase/serverless` is an optional peer dependency.
 */
export async function connectL3(options: ConnectL3Options): Promise<L3Connection> {
  // `databaseUrl: process.env.DATABASE_URL!` with the variable unset is the usual first mistake.
  if (typeof options.databaseUrl !== 'string' || options.databaseUrl === '') {
    throw new StrataError(
      'INVALID_CONFIG',
      'databaseUrl is missing: give a postgres:// URL (is DATABASE_URL set?)',
      {
        details: { field: 'databaseUrl' },
      },
    );
  }
  const driver = options.driver ?? defaultDriver(options.databaseUrl);
  const max = options.maxConnections ?? 10;
  if (driver === 'pg') {
    const idle = options.idleInTransactionTimeoutMs;
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max,
      ...(idle ? { idle_in_transaction_session_timeout: Math.ceil(idle) } : {}),
    });
    pool.on('error', options.onError);
    // The pool listens only to idle clients: a connection reset while one is checked out (mid-
    // transaction) would otherwise be an uncaught 'error' event and end the process.
    pool.on('connect', (client) => client.on('error', options.onError));
    releaseEndedClients(pool);
    return { db: drizzle({ client: pool }), end: () => pool.end() };
  }
  if (driver === 'neon-http') {
    const [{ neon }, { drizzle: drizzleHttp }] = await Promise.all([
      loadNeon(),
      import('drizzle-orm/neon-http'),
    ]);
    // One fetch per query: nothing stays open, so nothing to end.
    return { db: drizzleHttp({ client: neon(options.databaseUrl) }), end: async () => {} };
  }
  if (driver === 'neon-ws') {
    const [{ Pool, neonConfig }, { drizzle: drizzleWs }, { default: WebSocket }] = await Promise.all([
      loadNeon(),
      import('drizzle-orm/neon-serverless'),
      import('ws'),
    ]);
    // Node 20 has no global WebSocket; a constructor the app set (or a runtime's own) is kept.
    if (typeof globalThis.WebSocket === 'undefined') neonConfig.webSocketConstructor ??= WebSocket;
    const pool = new Pool({ connectionString: options.databaseUrl, max });
    pool.on('error', options.onError);
    pool.on('connect', (client: { on(event: 'error', listener: (error: Error) => void): unknown }) =>
      client.on('error', options.onError),
    );
    releaseEndedClients(pool as unknown as Parameters<typeof releaseEndedClients>[0]);
    return { db: drizzleWs({ client: pool }), end: () => pool.end() };
  }
  throw new StrataError(
    'INVALID_CONFIG',
    `driver must be 'pg', 'neon-http' or 'neon-ws', not ${String(driver)}`,
    {
      details: { field: 'driver' },
    },
  );
}

async function loadNeon(): Promise<typeof import('@neondatabase/serverless')> {
  try {
    return await import('@neondatabase/serverless');
  } catch (cause) {
    throw new StrataError(
      'INVALID_CONFIG',
      'the neon-http and neon-ws drivers need @neondatabase/serverless: npm i @neondatabase/serverless',
      { cause, details: { field: 'driver' } },
    );
  }
}
