import { messageOf, schemaError } from '../errors.js';
import type { Row } from '../l3/types.js';
import { checkTags } from '../query/tags.js';
import type { CompiledSchema } from '../schema/types.js';
import type { TagClock } from './tag-clock.js';

/**
 * A tagged schema's rows and the app's tag clock: which tags a row has (the schema's `tags`
 * function, so a row has the same tags whichever call or tier brought it), and whether a cached
 * copy stamped at some tick is still valid. A row whose tags cannot be had (the function threw or
 * gave a bad tag) is never valid: it is read from Postgres each time, and counted.
 */
export class RowTags {
  constructor(
    readonly schema: CompiledSchema,
    readonly clock: TagClock,
    readonly onBad: (err: unknown) => void,
  ) {}

  /** The row's tags, checked and sorted; undefined when they cannot be had (counted). */
  of(row: Row): readonly string[] | undefined {
    try {
      return this.ofWrite(row);
    } catch (err) {
      this.onBad(err);
      return undefined;
    }
  }

  /** Before a write: the row's tags, or VALIDATION_FAILED naming them (nothing is written). */
  ofWrite(row: Row): readonly string[] {
    try {
      return checkTags(this.schema.tags!(row));
    } catch (err) {
      const why = messageOf(err);
      throw schemaError('VALIDATION_FAILED', this.schema.name, `tags: ${why}`, {
        cause: err,
        details: { field: 'tags' },
      });
    }
  }

  /** See `TagClock.check`; false for a row without usable tags. */
  check(row: Row, stamp: number): boolean | undefined {
    const tags = this.of(row);
    return tags === undefined ? false : this.clock.check(tags, stamp);
  }

  /**
   * Reads, in one request, the values of the tags of `rows` this instance does not know now, so
   * `check` can answer for them. A failure is counted; those rows stay unknown (read below).
   */
  async know(rows: readonly Row[]): Promise<void> {
    const unknown = new Set<string>();
    for (const row of rows)
      for (const tag of this.of(row) ?? []) if (!this.clock.trusted(tag)) unknown.add(tag);
    if (unknown.size === 0) return;
    try {
      await this.clock.read([...unknown]);
    } catch (err) {
      this.clock.onError(err);
    }
  }
}
