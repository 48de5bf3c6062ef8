import pg from 'pg';
import type { BackingPostgres } from './backing.js';
import { RequestError } from './sql-request.js';

/** Who a Neon HTTP request connects as; the host and port always come from the backing server. */
export interface Credentials {
  user: string;
  password: string | undefined;
  database: string;
  /** From `?application_name=` (neon() adds its package name): shows in pg_stat_activity. */
  applicationName?: string;
}

/** A connection lent to one request. `release(false)` closes it instead of keeping it for reuse. */
interface Session {
  client: pg.Client;
  release(reusable: boolean): void;
}

interface SessionPoolOptions {
  /** Connections open at once, over all credentials. */
  maxConnections: number;
  /** An unused connection is closed after this long. */
  idleTimeoutMs: number;
  /** A request waits this long for a connection when all are busy, then gets 503. */
  acquireTimeoutMs: number;
}

export interface SessionPool {
  /** A connection for these credentials: an idle one, a new one, or the next one freed. */
  acquire(credentials: Credentials): Promise<Session>;
  /** Connections open right now (lent out or idle). */
  readonly openCount: number;
  /** Closes every connection (lent-out ones too: their queries fail) and refuses new requests. */
  close(): Promise<void>;
}

interface Idle {
  key: string;
  client: pg.Client;
  timer: NodeJS.Timeout;
}

interface Waiter {
  key: string;
  credentials: Credentials;
  resolve(session: Session): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * The Neon HTTP endpoint's connections to the backing Postgres, bounded in total whatever the
 * number of distinct credentials and application names: at most `maxConnections` are open, and an
 * idle one is closed after `idleTimeoutMs`, or at once when a request for other credentials needs
 * its place. Connections are reused only for the same (user, password, database, application name),
 * so a connection opened with one password never serves a request carrying another.
 * @example
 * const pool = createSessionPool(parseBackingUrl(url), { maxConnections: 20, idleTimeoutMs: 10_000, acquireTimeoutMs: 30_000 });
 * const session = await pool.acquire({ user: 'postgres', password: undefined, database: 'test' });
 * try { await session.client.query('select 1'); } finally { session.release(true); }
 */
export function createSessionPool(backing: BackingPostgres, options: SessionPoolOptions): SessionPool {
  const idle: Idle[] = []; // least recently used first
  const waiters: Waiter[] = [];
  const all = new Set<pg.Client>();
  let closed = false;

  const keyOf = (c: Credentials) =>
    JSON.stringify([c.user, c.password ?? null, c.database, c.applicationName ?? null]);

  /** Closes a connection and frees its place; `dispatch` then hands the place to a waiter. */
  const discard = (client: pg.Client) => {
    if (all.delete(client)) client.end().catch(() => {});
  };
  const destroy = (client: pg.Client) => {
    discard(client);
    dispatch();
  };

  const lend = (key: string, client: pg.Client): Session => {
    let released = false;
    return {
      client,
      release(reusable) {
        if (released) return;
        released = true;
        if (!reusable || closed) return destroy(client);
        const entry: Idle = { key, client, timer: setTimeout(() => evict(entry), options.idleTimeoutMs) };
        // The timer alone must not keep a process alive that is otherwise done.
        entry.timer.unref();
        idle.push(entry);
        dispatch();
      },
    };
  };

  const evict = (entry: Idle) => {
    const index = idle.indexOf(entry);
    if (index >= 0) idle.splice(index, 1);
    clearTimeout(entry.timer);
    discard(entry.client);
  };

  const open = async (key: string, credentials: Credentials): Promise<Session> => {
    const client = new pg.Client({
      host: backing.host,
      port: backing.port,
      user: credentials.user,
      database: credentials.database,
      ...(credentials.password !== undefined && { password: credentials.password }),
      ...(credentials.applicationName !== undefined && { application_name: credentials.applicationName }),
      connectionTimeoutMillis: 10_000,
    });
    all.add(client);
    // An idle connection dying (server restart, pg_terminate_backend) emits `error`; without a
    // listener it would crash the process. A lent-out one fails its query instead.
    client.on('error', () => {
      const entry = idle.find((candidate) => candidate.client === client);
      if (entry) {
        evict(entry);
        dispatch();
      }
    });
    try {
      await client.connect();
    } catch (err) {
      destroy(client);
      throw err;
    }
    return lend(key, client);
  };

  /** Serves waiters, oldest first, while a connection can be found or opened for them. */
  function dispatch(): void {
    while (waiters.length > 0) {
      const waiter = waiters[0]!;
      const session = take(waiter.key, waiter.credentials);
      if (!session) return;
      waiters.shift();
      clearTimeout(waiter.timer);
      session.then(waiter.resolve, waiter.reject);
    }
  }

  /** An idle connection for `key`, else a new one if there is room (made by closing another idle one). */
  function take(key: string, credentials: Credentials): Promise<Session> | undefined {
    const index = idle.findLastIndex((entry) => entry.key === key);
    if (index >= 0) {
      const [entry] = idle.splice(index, 1);
      clearTimeout(entry!.timer);
      return Promise.resolve(lend(key, entry!.client));
    }
    if (all.size >= options.maxConnections && idle.length > 0) evict(idle[0]!);
    if (all.size >= options.maxConnections) return undefined;
    return open(key, credentials);
  }

  return {
    get openCount() {
      return all.size;
    },
    acquire(credentials) {
      if (closed) return Promise.reject(new RequestError('the Neon endpoint is stopping', 503));
      const key = keyOf(credentials);
      if (waiters.length === 0) {
        const session = take(key, credentials);
        if (session) return session;
      }
      return new Promise<Session>((resolve, reject) => {
        const waiter: Waiter = {
          key,
          credentials,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.splice(waiters.indexOf(waiter), 1);
            reject(
              new RequestError(
                `all ${options.maxConnections} Postgres connections of the Neon endpoint stayed busy for ${options.acquireTimeoutMs} ms`,
                503,
              ),
            );
          }, options.acquireTimeoutMs),
        };
        waiters.push(waiter);
      });
    },
    async close() {
      closed = true;
      for (const waiter of waiters.splice(0)) {
        clearTimeout(waiter.timer);
        waiter.reject(new RequestError('the Neon endpoint is stopping', 503));
      }
      for (const entry of idle.splice(0)) clearTimeout(entry.timer);
      const clients = [...all];
      all.clear();
      await Promise.all(clients.map((client) => client.end().catch(() => {})));
    },
  };
}
