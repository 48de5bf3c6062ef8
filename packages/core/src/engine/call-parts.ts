import type { Coherence } from './coherence.js';
import type { EngineContext } from './context.js';
import type { SchemaRef } from './registry.js';
import type { SchemaCache } from './schema-cache.js';
import type { Writer } from './writer.js';

/**
 * What the calls of a `Strata` instance (get-calls.ts, write-calls.ts, tx-call.ts) work on: one
 * object made with the instance, so that they take one argument for it rather than four.
 */
export interface CallParts {
  readonly ctx: EngineContext;
  readonly coherence: Coherence;
  readonly writer: Writer;
  /** The schema's cache, once the change relay had its turn; UNAVAILABLE once closed. */
  readonly runtime: (schema: SchemaRef) => SchemaCache;
}
