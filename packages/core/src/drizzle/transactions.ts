import type { RunnableQuery } from 'drizzle-orm/runnable-query';
import { StrataError } from '../errors.js';
import type { Database } from './database.js';

/**
 * How the driver makes several statements atomic: an interactive `db.transaction` (node-postgres,
 * neon-serverless, pglite), or one `db.batch` request that the server runs as a transaction
 * (neon-http, which has no interactive transactions: its `db.transaction` throws).
 */
export type TransactionMode = 'interactive' | 'batch';

/** A Drizzle query builder: awaited it runs; handed to `db.batch` it runs inside the batch. */
export type Statement<T = unknown> = PromiseLike<T> & RunnableQuery<T, 'pg'>;

type BatchFn = (statements: readonly Statement[]) => Promise<unknown[]>;

function batchOf(db: Database): BatchFn | undefined {
  // withReplicas() copies the primary's own fields but not prototype methods such as batch.
  const base = ((db as { $primary?: unknown }).$primary ?? db) as { batch?: unknown };
  const batch = base.batch;
  if (typeof batch !== 'function') return undefined;
  return (statements) =>
    (batch as (items: readonly Statement[]) => Promise<unknown[]>).call(base, statements);
}

/**
 * 'batch' when the database has a `batch` method, else 'interactive'. Among Drizzle's Postgres
 * drivers only the HTTP ones (neon-http) have `batch`, and they are exactly the ones without
 * interactive transactions; their batch is one transaction on the server.
 */
export function detectTransactionMode(db: Database): TransactionMode {
  return batchOf(db) ? 'batch' : 'interactive';
}

/** Runs statements all-or-nothing, whichever way the driver can. */
export class Transactions {
  readonly mode: TransactionMode;
  readonly #db: Database;
  readonly #batch: BatchFn | undefined;

  constructor(db: Database, mode: TransactionMode = detectTransactionMode(db)) {
    this.#db = db;
    this.mode = mode;
    this.#batch = batchOf(db);
    if (mode === 'batch' && !this.#batch) {
      throw new StrataError(
        'INVALID_CONFIG',
        "transactions: 'batch' needs a Drizzle database with db.batch (neon-http)",
      );
    }
  }

  /**
   * Runs what `build` makes, in order, in one transaction (or one batch) and resolves each result.
   * `build` only builds queries; it gets the transaction to build them on.
   */
  async all<T>(build: (db: Database) => readonly Statement<T>[]): Promise<T[]> {
    if (this.mode === 'batch') return (await this.#batch!(build(this.#db))) as T[];
    return this.#db.transaction(async (tx) => {
      const results: T[] = [];
      for (const statement of build(tx)) results.push(await statement);
      return results;
    });
  }

  /** An interactive transaction; only in 'interactive' mode. */
  interactive<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    return this.#db.transaction((tx) => work(tx));
  }

  /** One batch request, run by the server as a transaction; only in 'batch' mode. */
  batch(statements: readonly Statement[]): Promise<unknown[]> {
    return this.#batch!(statements);
  }
}
