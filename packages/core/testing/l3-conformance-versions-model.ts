import { and, eq, inArray } from 'drizzle-orm';
import {
  bigint,
  boolean,
  doublePrecision,
  integer,
  jsonb,
  pgSchema,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { expect } from 'vitest';
import { strataVersionsTable } from '../src/drizzle/versions-table.js';
import { defineSchema } from '../src/schema/define-schema.js';
import type { CompiledSchema } from '../src/schema/types.js';
import { bytea } from './l3-conformance-model.js';
import type { L3Suite } from './l3-conformance-suite.js';

/** The tables of the version tests (Postgres- and Redis-ordered writes, concurrency), all in `schemaName`. */
export function versionsModel(schemaName: string) {
  const s = pgSchema(schemaName);
  return {
    items: defineSchema({
      table: s.table('v_items', {
        id: text('id').primaryKey(),
        name: text('name').notNull(),
        n: integer('n'),
        // A row that leaves it out gets the default, even beside rows that give it.
        note: text('note').default('dflt'),
        doc: jsonb('doc'),
        createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
      }),
      fields: { createdAt: { autoNowAdd: true } },
    }),
    counts: defineSchema({
      table: s.table('v_counts', {
        id: integer('id').primaryKey(),
        total: bigint('total', { mode: 'bigint' }).notNull(),
        by: text('by'),
      }),
    }),
    bulk: defineSchema({
      table: s.table('v_bulk', {
        id: integer('id').primaryKey(),
        a: text('a').notNull(),
        b: integer('b'),
        c: doublePrecision('c'),
        d: boolean('d'),
        e: text('e'),
      }),
    }),
    /** Bytes cannot travel in a JSON recordset: rows with them go as VALUES parts. */
    blobs: defineSchema({
      table: s.table('v_blobs', { id: integer('id').primaryKey(), data: bytea('data') }),
    }),
    /** Keys the engine may hand over in any case or form: Postgres prints them lowercase, hyphenated. */
    tokens: defineSchema({
      table: s.table('v_tokens', { id: uuid('id').primaryKey(), n: integer('n') }),
    }),
  };
}

export type VersionsModel = ReturnType<typeof versionsModel>;

interface StoredVersion {
  version: number;
  deleted: boolean;
}

/**
 * What `_strata_versions` holds for these ids of the schema, by id; `undefined` without the fixture's
 * database (the callers then skip their version checks).
 */
export async function storedVersions(
  suite: L3Suite,
  schema: CompiledSchema,
  ids: readonly string[],
): Promise<Record<string, StoredVersion> | undefined> {
  const db = suite.db();
  if (!db) return undefined;
  const versions = strataVersionsTable(suite.schemaName);
  const rows = await db
    .select({ id: versions.id, version: versions.version, deleted: versions.deleted })
    .from(versions)
    .where(and(eq(versions.schema, schema.identity), inArray(versions.id, [...ids])));
  return Object.fromEntries(rows.map((r) => [r.id, { version: r.version, deleted: r.deleted }]));
}

/**
 * Expects `_strata_versions` to hold exactly `expected` (version, tombstone) among `ids`: an id left
 * out of `expected` must have no version. Skipped without the fixture's database.
 */
export async function expectVersions(
  suite: L3Suite,
  schema: CompiledSchema,
  ids: readonly string[],
  expected: Record<string, readonly [version: number, deleted: boolean]>,
): Promise<void> {
  const stored = await storedVersions(suite, schema, ids);
  if (!stored) return;
  const want = Object.entries(expected).map(([id, [version, deleted]]) => [id, { version, deleted }]);
  expect(stored).toEqual(Object.fromEntries(want));
}
