// `@strata/adapter-workers/hono`: its own entry so that apps without Hono never resolve `hono`.
// It needs only Hono's types: nothing from `hono` is loaded at run time. Importing it also types
// `c.var.strata` in every Hono app of the program (ContextVariableMap below).
import { type Strata, StrataError } from '@strata/core';
import type { Context, MiddlewareHandler } from 'hono';
import { type CreateStrataOptions, createStrata, type StrataBindings } from './create-strata.js';

export {
  httpStatusOf,
  type StrataErrorBody,
  type StrataErrorsOptions,
  strataErrors,
} from './hono-errors.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** The isolate's Strata, set by the `strata()` middleware of `@strata/adapter-workers/hono`. */
    strata: Strata;
  }
}

export interface StrataMiddlewareOptions extends CreateStrataOptions {
  /**
   * Where the settings come from instead of `c.env` (the Worker's bindings): e.g. `process.env` on
   * Vercel or Node, where `c.env` holds no bindings. Pass the same object on every request.
   */
  env?: StrataBindings;
}

/**
 * Hono middleware: puts this isolate's Strata (`createStrata(c.env, options)`, built once, reused by
 * every request) on `c.var.strata`, and after the handler hands the request's deferred work (L2
 * fills, bus publishes) to `c.executionCtx.waitUntil`, so the response does not wait for it. Where
 * there is no execution context (Node, tests without one) it awaits that work before returning.
 *
 * @example
 * import { strata } from '@strata/adapter-workers/hono';
 * const app = new Hono<{ Bindings: Env }>();
 * app.use(strata({ schemas: [players] }));
 * app.get('/players/:id', async (c) => c.json(await c.var.strata.get(players, c.req.param('id'))));
 * export default app;
 * @example
 * app.use(strata({ schemas: [players], env: process.env, writeBehind: { queue } })); // Vercel: see createStrata
 */
export function strata(options: StrataMiddlewareOptions): MiddlewareHandler {
  const { env, ...rest } = options;
  return async (c, next) => {
    const bindings: StrataBindings | undefined = env ?? c.env;
    if (!bindings) {
      throw new StrataError(
        'INVALID_CONFIG',
        'strata(): no bindings on c.env; pass `env` (e.g. process.env)',
      );
    }
    const instance = createStrata(bindings, rest);
    c.set('strata', instance);
    try {
      await next();
    } finally {
      // Also after a throwing handler: the fills it started still belong to this request.
      const settled = instance.settled();
      const waitUntil = executionCtxOf(c);
      if (waitUntil) waitUntil(settled);
      else await settled;
    }
  };
}

/** `c.executionCtx.waitUntil`, or undefined where Hono has none (its getter throws then). */
function executionCtxOf(c: Context): ((work: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (work: Promise<unknown>) => ctx.waitUntil(work);
  } catch {
    return undefined;
  }
}
