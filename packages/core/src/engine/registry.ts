import { StrataError } from '../errors.js';
import { sameDefinition } from '../schema/same-definition.js';
import type { CompiledSchema } from '../schema/types.js';

/** A schema argument: the registered name (as in the Go library Strata) or the schema object itself. */
export type SchemaRef = string | CompiledSchema;

/**
 * Registered schemas by name (what callers pass) and by identity (what other instances name in bus
 * and queue messages), with SCHEMA_NOT_FOUND / SCHEMA_DUPLICATE errors. Two schemas
 * over one table, or sharing one L2 key space, are refused: they would read and overwrite each
 * other's cached rows and versions.
 */
export class Registry<Runtime extends { schema: CompiledSchema; keys: { base: string } }> {
  readonly #byName = new Map<string, Runtime>();
  readonly #byIdentity = new Map<string, Runtime>();
  readonly #byBase = new Map<string, Runtime>();
  /** The last ref `resolve` answered, and its runtime. */
  #lastRef: SchemaRef | undefined;
  #last: Runtime | undefined;

  add(runtime: Runtime): void {
    const { name, identity } = runtime.schema;
    if (this.#byName.has(name)) {
      throw new StrataError('SCHEMA_DUPLICATE', `schema ${name} is already registered`, {
        details: { schema: name },
      });
    }
    const sameTable = this.#byIdentity.get(identity);
    const sameKeys = this.#byBase.get(runtime.keys.base);
    const clash = sameTable ?? sameKeys;
    if (clash) {
      const what = sameTable ? `table ${identity}` : `L2 keys ${runtime.keys.base}`;
      throw new StrataError(
        'SCHEMA_DUPLICATE',
        `schemas ${clash.schema.name} and ${name} would share ${what}`,
        {
          details: { schema: name, other: clash.schema.name },
        },
      );
    }
    this.#byName.set(name, runtime);
    this.#byIdentity.set(identity, runtime);
    this.#byBase.set(runtime.keys.base, runtime);
  }

  resolve(ref: SchemaRef): Runtime {
    // Every call resolves its schema, an L1 hit included, and most name the one the call before did;
    // a name once registered always resolves to the same runtime (none is ever removed).
    if (ref === this.#lastRef && ref !== undefined) return this.#last as Runtime;
    const runtime = this.#lookup(ref);
    this.#lastRef = ref;
    this.#last = runtime;
    return runtime;
  }

  #lookup(ref: SchemaRef): Runtime {
    const name = typeof ref === 'string' ? ref : ref?.name;
    const runtime = name === undefined ? undefined : this.#byName.get(name);
    if (runtime && (typeof ref !== 'object' || sameDefinition(runtime.schema, ref))) return runtime;
    // An object rebuilt from the same definition is the registered schema; another one of that name
    // (another table, shape or policy) is not, and is told apart from a name never registered.
    const other = runtime
      ? ': another schema of that name is'
      : // No name: most often the Drizzle table where its schema was meant (get(players, id)).
        name === undefined && typeof ref === 'object'
        ? ': pass the defineSchema() result, not the table'
        : ` (registered: ${[...this.#byName.keys()].join(', ') || 'none'})`;
    throw new StrataError('SCHEMA_NOT_FOUND', `schema ${String(name)} is not registered${other}`, {
      details: { schema: name },
    });
  }

  /** The runtime of an identity, or undefined (messages from other apps may name any table). */
  byIdentity(identity: string): Runtime | undefined {
    return this.#byIdentity.get(identity);
  }

  all(): Runtime[] {
    return [...this.#byName.values()];
  }
}
