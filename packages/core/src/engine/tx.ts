import type { Duration } from '../duration.js';
import { StrataError } from '../errors.js';
import type { Id } from './ids.js';
import type { SchemaRef } from './registry.js';

export type TxOp =
  | { kind: 'set'; schema: SchemaRef; value: unknown }
  | { kind: 'delete'; schema: SchemaRef; id: Id };

/**
 * Options of `Tx.commit`.
 * @example await strata.tx().set(players, row).commit({ timeout: '2s' });
 */
export interface CommitOptions {
  /** Deadline for the L3 transaction; past it, commit fails with TX_TIMEOUT. Default: `timeouts.l3`. */
  timeout?: Duration;
}

/**
 * Queues sets and deletes across schemas and commits them atomically to L3 (Tx in the Go library
 * Strata). Caches change only after the commit; a failure leaves every tier as it was.
 * @example
 * await strata.tx().set(players, { id: 'p1', level: 99 }).set(scores, { playerId: 'p1', points: 9999 })
 *   .delete(sessions, 'old').commit();
 */
export class Tx {
  readonly #ops: TxOp[] = [];
  #committed = false;

  constructor(readonly run: (ops: readonly TxOp[], options: CommitOptions) => Promise<void>) {}

  set(schema: SchemaRef, value: unknown): this {
    this.#ops.push({ kind: 'set', schema, value });
    return this;
  }

  delete(schema: SchemaRef, id: Id): this {
    this.#ops.push({ kind: 'delete', schema, id });
    return this;
  }

  /** Runs the queued operations; a second commit of the same Tx is refused. */
  commit(options: CommitOptions = {}): Promise<void> {
    if (this.#committed)
      return Promise.reject(new StrataError('TX_FAILED', 'this transaction was already committed'));
    this.#committed = true;
    return this.run([...this.#ops], options);
  }
}
