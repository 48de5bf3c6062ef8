import type { Coherence } from './coherence.js';
import type { EngineContext } from './context.js';
import type { SchemaCache } from './schema-cache.js';

/** What applying captured changes did, for `strata.stats().capture`. */
export class ChangeCounters {
  /** Changes of registered schemas applied (a repeated one counts again). */
  changesApplied = 0;
  /** Keys marked superseded (one per key and call, however many changes named it). */
  idsInvalidated = 0;
  /** Changes of a table no registered schema has (another app on the same database): skipped. */
  unknownSchemasSkipped = 0;
}

/**
 * What applying captured changes works on: one instance's engine, its schemas by identity, and its
 * counters. The instance's change capture is one; it is handed to the relay (which brings the
 * applier with it) and reached by `applyChanges` of `@strata/core/admin`, so that the applier is not
 * part of the engine (nor of a Worker that neither relays nor applies changes).
 */
export interface ChangeTarget {
  readonly ctx: EngineContext;
  readonly coherence: Coherence;
  readonly lookup: (identity: string) => SchemaCache | undefined;
  readonly counters: ChangeCounters;
}
