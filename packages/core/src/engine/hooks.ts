import { messageOf, type StrataError, schemaError } from '../errors.js';
import type { CompiledSchema } from '../schema/types.js';
import type { EngineContext } from './context.js';

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
    // The hook's own words in the message: a beforeSet that refuses a row says why (as Go's error did).
    throw schemaError('HOOK_PANIC', schema, `hook ${name} threw: ${messageOf(cause)}`, {
      cause,
      details: { hook: name },
    });
  }
}

/**
 * Tells the schema's `onWriteError` hook of a write-behind write that did not land as written; a
 * hook that throws is counted (`errorsBy.hook`) and logged, and the flush goes on.
 */
export function reportWriteError(
  ctx: EngineContext,
  schema: CompiledSchema,
  key: string,
  err: StrataError,
): void {
  try {
    schema.hooks.onWriteError?.(key, err);
  } catch (hookErr) {
    ctx.counters.error('hook');
    ctx.config.logger.error('onWriteError hook threw', { schema: schema.name, error: String(hookErr) });
  }
}
