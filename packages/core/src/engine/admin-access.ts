import type { ChangeTarget } from './change-target.js';
import type { SchemaRef } from './registry.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * The key of the one accessor through which `@strata/core/admin` reaches a Strata instance's
 * internals. Why it exists: every method of the `Strata` class is bundled into every Worker, so the
 * admin operations (reencrypt, applyChanges) are functions of their own entry point instead, and
 * they need what the class keeps private. A module-private symbol (not exported by `@strata/core`)
 * keeps that out of the public API; a method under it is not enumerable and reveals nothing until
 * called.
 */
export const ADMIN: unique symbol = Symbol('strata.admin');

/** What the admin operations need of an instance, and no more. */
export interface AdminAccess {
  /** The instance's engine as applying changes sees it (context, coherence, schemas by identity, counters). */
  readonly engine: ChangeTarget;
  /** The schema's runtime: SCHEMA_NOT_FOUND when it is not registered, UNAVAILABLE once closed. */
  runtime(schema: SchemaRef): SchemaCache;
}
