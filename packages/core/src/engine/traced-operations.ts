import { beginRead, endRead } from '../observability/read-span.js';
import { recording, type SpanAttributes, type Tracer, traced } from '../observability/tracing.js';
import { Tx } from './tx.js';

/** Reads: their span says which tier answered (`strata.tier`, `strata.hit`, `strata.stale`). */
const READS = new Set([
  'get',
  'find',
  'findWithStatus',
  'getMany',
  'getManyWithStatus',
  'exists',
  'searchCached',
  'searchCachedWithStatus',
]);
/**
 * The other public operations with a span; `peek` has none (a span would cost more than the read).
 * The admin operations of `@strata/core/admin` (reencrypt, applyChanges) make their own (admin-op.ts).
 */
const OTHERS = [
  'set',
  'setMany',
  'delete',
  'deleteMany',
  'search',
  'count',
  'invalidate',
  'expire',
  'invalidateAll',
  'invalidateTags',
  'warmCache',
  'migrate',
  'relayChanges',
  'flushDirty',
  'flushBatch',
  'queueDepth',
];
/** Operations whose first argument is not a schema. */
const NO_SCHEMA = new Set([
  'migrate',
  'invalidateTags',
  'relayChanges',
  'flushDirty',
  'flushBatch',
  'queueDepth',
]);

type Method = (...args: unknown[]) => unknown;

/**
 * Gives every public operation of `strata` a span (`strata.get`, …, `strata.tx.commit`) with
 * `strata.op` and `strata.schema`, its tier calls as children. Installed on the instance only when
 * tracing is on, so with it off the methods are the class's own and pay nothing.
 */
export function traceOperations(strata: object, tracer: Tracer): void {
  const methods = strata as unknown as Record<string, Method>;
  const install = (name: string, method: Method) =>
    Object.defineProperty(strata, name, { configurable: true, writable: true, value: method });
  for (const name of [...READS, ...OTHERS]) {
    const method = methods[name]!;
    const spanName = `strata.${name}`;
    const read = READS.has(name);
    install(name, (...args: unknown[]) => {
      if (!recording(tracer)) return method.apply(strata, args);
      const attributes: SpanAttributes = { 'strata.op': name };
      if (!NO_SCHEMA.has(name)) attributes['strata.schema'] = schemaName(args[0]);
      return traced(
        tracer,
        'operation',
        spanName,
        attributes,
        (span) => {
          if (read) beginRead(span);
          return method.apply(strata, args);
        },
        read ? endRead : undefined,
      );
    });
  }
  const tx = methods.tx!;
  install('tx', () => {
    const inner = tx.call(strata) as Tx;
    return new Tx((ops, options) =>
      !recording(tracer)
        ? inner.run(ops, options)
        : traced(
            tracer,
            'operation',
            'strata.tx.commit',
            { 'strata.op': 'tx.commit', 'strata.tx.ops': ops.length },
            () => inner.run(ops, options),
          ),
    );
  });
}

function schemaName(schema: unknown): string {
  return typeof schema === 'string' ? schema : String((schema as { name?: unknown } | undefined)?.name);
}
