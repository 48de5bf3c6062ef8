import * as check from '../check/checks.js';
import { durationCheck, evictionCheck, writeModeCheck } from '../config/option.js';
import { schemaError } from '../errors.js';

const duration = check.optional(durationCheck);
/** A policy part (`l1`, `l2`, `l3`): absent, `false`, or an object whose options are checked. */
const part = (shape: Record<string, check.Check>): check.Check => {
  const accepts = check.optional(check.object(shape));
  return (value, path) => (value === false ? undefined : accepts(value, path));
};

// The config's checks of the same values (config.ts), for a schema's own; unknown keys are
// known-options.ts's refusal.
const policies = check.object({
  l1: part({
    ttl: duration,
    maxEntries: check.optional(check.number(check.int, check.gte(0))),
    eviction: check.optional(evictionCheck),
  }),
  l2: part({ ttl: duration }),
  l3: part({ replicaReads: check.optional(check.oneOf(['search', 'all'])) }),
  writeMode: check.optional(writeModeCheck),
  negativeTtl: duration,
  stale: duration,
  grace: duration,
});

/**
 * Refuses, at `defineSchema`, a policy value that `register` would refuse (or, for a mode, read as
 * the default): `l1: { ttl: 'five minutes' }` is INVALID_MODEL naming `l1.ttl` where the schema is
 * written, not an error at the first `new Strata` or `register`.
 * @example checkPolicies('players', { table, l1: { ttl: 'five minutes' } }); // throws, field 'l1.ttl'
 */
export function checkPolicies(schema: string, definition: Readonly<Record<string, unknown>>): void {
  const issue = policies(definition, []);
  if (!issue) return;
  const field = issue.path.join('.');
  throw schemaError('INVALID_MODEL', schema, `${field}: ${issue.message}`, { details: { field } });
}
