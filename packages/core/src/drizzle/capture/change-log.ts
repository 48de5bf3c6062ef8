import { qualifiedName, quoteIdentifier } from '../identifiers.js';

/** Where Strata's tables live for capture: always a named Postgres schema (triggers run on any search path). */
export interface CaptureTables {
  /** The Postgres schema of `_strata_versions`, `_strata_changes` and the capture functions. */
  readonly pgSchema: string;
  /** `"schema"."_strata_versions"`, quoted. */
  readonly versions: string;
  /** `"schema"."_strata_changes"`, quoted. */
  readonly changes: string;
  /** `"schema"."_strata_changes_meta"`, quoted: one row, the highest xid ever pruned. */
  readonly meta: string;
  /** `"schema"."_strata_capture_tables"`, quoted: the captured tables and their definitions' fingerprints. */
  readonly registry: string;
}

export const CHANGES_TABLE = '_strata_changes';
export const META_TABLE = '_strata_changes_meta';
export const REGISTRY_TABLE = '_strata_capture_tables';

export function captureTables(pgSchema: string): CaptureTables {
  return {
    pgSchema,
    versions: qualifiedName(pgSchema, '_strata_versions'),
    changes: qualifiedName(pgSchema, CHANGES_TABLE),
    meta: qualifiedName(pgSchema, META_TABLE),
    registry: qualifiedName(pgSchema, REGISTRY_TABLE),
  };
}

/**
 * The change log and its meta row (idempotent). One row per captured statement: `xid` is the
 * writing transaction (its top level, even inside a savepoint), what the reader orders and pages by.
 */
export function changeLogStatements(tables: CaptureTables): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(tables.pgSchema)}`,
    `CREATE TABLE IF NOT EXISTS ${tables.changes} (` +
      '"seq" bigserial PRIMARY KEY, ' +
      '"xid" xid8 NOT NULL DEFAULT pg_current_xact_id(), ' +
      '"schema" text NOT NULL, ' +
      '"op" text NOT NULL, ' +
      '"ids" text[], ' +
      '"versions" bigint[], ' +
      '"created_at" timestamptz NOT NULL DEFAULT now())',
    `CREATE INDEX IF NOT EXISTS ${quoteIdentifier(`${CHANGES_TABLE}_xid`)} ON ${tables.changes} ("xid", "seq")`,
    // One row (the key can only be true): the highest xid a prune deleted, for gap detection.
    `CREATE TABLE IF NOT EXISTS ${tables.meta} ("one" boolean PRIMARY KEY DEFAULT true CHECK ("one"), "pruned_xid" xid8 NOT NULL DEFAULT '0')`,
    `INSERT INTO ${tables.meta} DEFAULT VALUES ON CONFLICT DO NOTHING`,
  ];
}
