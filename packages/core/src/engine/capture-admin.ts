import { StrataError } from '../errors.js';
import type { CaptureCheck, L3Capture } from '../l3/capture.js';
import type { L3Tier } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';

/**
 * Change capture of the registered schemas (`strata.capture`): Postgres triggers that record writes
 * made outside Strata into a change log. See docs/change-capture.md.
 * @example
 * await strata.capture.install();
 * const report = await strata.capture.check();
 * // [{ schema: 'players', installed: true, missing: [], ddl: 'event-trigger' }]
 */
export interface CaptureAdmin {
  /** Creates the change log and every registered table's triggers, or brings them up to date. Resolves the statements run. */
  install(): Promise<string[]>;
  /**
   * Ends this app's capture (its `keyPrefix`) of every registered table: unregisters the app, and
   * drops Strata's triggers and functions from the tables no other app is still registered on (the
   * others' capture goes on as if they alone had installed it). Tables and rows stay.
   */
  remove(): Promise<string[]>;
  /** Per registered schema with an L3 table, what of its capture is missing, and how its schema changes are found. */
  check(): Promise<CaptureCheck[]>;
}

/**
 * The admin over the L3's capture; INVALID_CONFIG when the L3 has none. `changed` runs after an
 * install or a removal (the engine checks the install again, so its stats say so at once).
 */
export function captureAdmin(
  l3: () => L3Tier,
  schemas: () => CompiledSchema[],
  changed: () => Promise<void>,
  app: () => string,
): CaptureAdmin {
  const capture = (): L3Capture => {
    const tier = l3();
    if (!tier.capture) {
      throw new StrataError(
        'INVALID_CONFIG',
        `the L3 ${tier.name} has no change capture (createDrizzleL3 has)`,
        {
          details: { field: 'l3' },
        },
      );
    }
    return tier.capture;
  };
  return {
    install: async () => {
      const statements = await capture().install(schemas(), app());
      await changed();
      return statements;
    },
    remove: async () => {
      const statements = await capture().remove(schemas(), app());
      await changed();
      return statements;
    },
    check: async () => capture().check(schemas(), app()),
  };
}
