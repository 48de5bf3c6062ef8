import type { CompiledSchema } from '../schema/types.js';

/** L2 value meaning "known absent" (negative cache, delete tombstone). No codec output starts with NUL. */
export const ABSENT_MARKER = '\u0000strata:absent';

/**
 * L2 key layout: `{root}:{prefix}:{fingerprint}-{codec}:g{generation}:{id}`.
 * - the fingerprint changes when the table's columns change, so a migrated table never reads old shapes;
 * - the codec name, so switching codecs never decodes bytes written by another;
 * - the generation, so `invalidateAll` is one INCR, not a SCAN over every key.
 */
export class KeySpace {
  readonly base: string;
  readonly generationKey: string;
  /** Moved on by every write to the schema: cached search lists tagged with an older value are stale. */
  readonly searchGenerationKey: string;

  constructor(root: string, schema: CompiledSchema, codecName: string) {
    const prefix = (schema.l2 || undefined)?.keyPrefix || schema.name;
    this.base = `${root}:${prefix}`;
    this.generationKey = `${this.base}:gen`;
    this.searchGenerationKey = `${this.base}:sgen`;
    this.#shape = `${this.base}:${schema.fingerprint}-${codecName}`;
  }

  readonly #shape: string;

  row(generation: number, id: string): string {
    return `${this.#shape}:g${generation}:${id}`;
  }

  /** A cached search list, by the SHA-256 of its normalised query. */
  list(generation: number, queryHash: string): string {
    return `${this.#shape}:g${generation}:q:${queryHash}`;
  }
}
