import { schemaError } from '../errors.js';

/**
 * Runs a user hook; a throw (or rejection) becomes HOOK_PANIC with the cause, as a recovered panic
 * does in the Go library Strata. Callers run hooks before touching tiers, so a failing hook changes
 * nothing.
 */
export async function runHook<A extends unknown[]>(
  schema: string,
  name: string,
  hook: ((...args: A) => void | Promise<void>) | undefined,
  ...args: A
): Promise<void> {
  if (!hook) return;
  try {
    await hook(...args);
  } catch (cause) {
    throw schemaError('HOOK_PANIC', schema, `hook ${name} threw`, { cause, details: { hook: name } });
  }
}
