import { StrataError } from '../errors.js';
import { noopTracing, recording, type SpanAttributes, traced } from '../observability/tracing.js';
import { ADMIN, type AdminAccess } from './admin-access.js';
import type { Strata } from './strata.js';

/**
 * Runs the admin operation `op` (`@strata/core/admin`) on `strata`'s internals, in the span
 * `strata.<op>` when tracing is on (as the instance's own operations have theirs). Rejects with
 * UNAVAILABLE once the instance is closed, and with INVALID_CONFIG when `strata` is not a Strata
 * instance of this copy of the package (a second copy has its own accessor key).
 */
export async function adminOperation<T>(
  strata: Strata,
  op: string,
  attributes: SpanAttributes,
  run: (access: AdminAccess) => Promise<T>,
): Promise<T> {
  const accessor = (strata as { [ADMIN]?: unknown } | null | undefined)?.[ADMIN];
  if (typeof accessor !== 'function') {
    throw new StrataError('INVALID_CONFIG', `${op}: the first argument must be a Strata instance`, {
      details: { field: 'strata' },
    });
  }
  const access = (accessor as () => AdminAccess).call(strata);
  const { tracing } = access.engine.ctx.config;
  if (tracing === noopTracing || !recording(tracing)) return run(access);
  return traced(tracing, 'operation', `strata.${op}`, { 'strata.op': op, ...attributes }, () => run(access));
}
