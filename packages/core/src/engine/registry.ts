import { StrataError } from '../errors.js';
import type { CompiledSchema } from '../schema/types.js';

/** A schema argument: the registered name (seed parity) or the schema object itself. */
export type SchemaRef = string | CompiledSchema;

/** Registered schemas by name, with the seed's SCHEMA_NOT_FOUND / SCHEMA_DUPLICATE errors. */
export class Registry<Runtime extends { schema: CompiledSchema }> {
  readonly #byName = new Map<string, Runtime>();

  add(runtime: Runtime): void {
    const { name } = runtime.schema;
    if (this.#byName.has(name)) {
      throw new StrataError('SCHEMA_DUPLICATE', `schema ${name} is already registered`, {
        details: { schema: name },
      });
    }
    this.#byName.set(name, runtime);
  }

  resolve(ref: SchemaRef): Runtime {
    const name = typeof ref === 'string' ? ref : ref?.name;
    const runtime = name === undefined ? undefined : this.#byName.get(name);
    if (!runtime || (typeof ref === 'object' && runtime.schema !== ref)) {
      throw new StrataError('SCHEMA_NOT_FOUND', `schema ${String(name)} is not registered`, {
        details: { schema: name },
      });
    }
    return runtime;
  }

  /** The runtime for a name, or undefined (messages from other instances may name unknown schemas). */
  get(name: string): Runtime | undefined {
    return this.#byName.get(name);
  }

  all(): Runtime[] {
    return [...this.#byName.values()];
  }
}
