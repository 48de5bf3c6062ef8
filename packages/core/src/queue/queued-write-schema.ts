import * as check from '../check/checks.js';
import { outOfBounds } from '../check/messages.js';
import { StrataError } from '../errors.js';
import type { QueuedWrite } from './types.js';

const common = {
  schema: check.string(check.minLength(1)),
  id: check.string(check.minLength(1)),
  keyPrefix: check.optional(check.string(check.minLength(1))),
  // A version comes from an L2 INCR: a safe integer, so it survives JSON and compares exactly. -1
  // only with `conditional` (its version unknown yet, see `QueuedWrite.conditional`).
  version: check.number(check.int, check.gte(-1)),
  conditional: check.optional(check.object({ until: check.number(check.int, check.gte(0)) })),
};
/**
 * What a {@link QueuedWrite} must look like wherever it crosses a boundary (into a queue, out of a
 * stream or a Cloudflare Queue message). A `set` carries its row; a `delete` may not. Unknown keys
 * are dropped rather than refused, so a newer producer never poisons an older consumer.
 */
const queuedWrite = check.discriminated('op', {
  set: check.object({
    ...common,
    op: check.oneOf(['set']),
    row: check.string(),
    under: check.optional(
      check.object({
        below: check.number(check.int, check.gte(0)),
        row: check.optional(check.string()),
        defaults: check.optional(check.array(check.string(check.minLength(1)))),
      }),
    ),
    defaults: check.optional(check.array(check.string(check.minLength(1)))),
  }),
  delete: check.object({ ...common, op: check.oneOf(['delete']), row: check.optional(check.absent) }),
});

/**
 * Checks one write and returns a frozen copy holding only the known fields; throws
 * `VALIDATION_FAILED` naming the first bad field.
 *
 * @example
 * parseQueuedWrite({ schema: 'users', id: '42', op: 'delete', version: 7 }); // ok
 * parseQueuedWrite({ schema: 'users', id: '42', op: 'set', version: 7 }); // throws: row is missing
 */
export function parseQueuedWrite(value: unknown): QueuedWrite {
  return validWrite(value, 'queued write');
}

/** Checks a whole batch before any of it is used: one bad write rejects the batch (its index in `details`). */
export function parseQueuedWrites(values: readonly unknown[]): QueuedWrite[] {
  return values.map((value, index) => validWrite(value, `writes[${index}]`, index));
}

/**
 * Reads a write from its wire form (the JSON `enqueue` stored); throws `VALIDATION_FAILED` for text
 * that is not JSON or not a write, so a consumer can dead-letter it instead of stalling.
 *
 * @example decodeQueuedWrite('{"schema":"users","id":"42","op":"delete","version":7}')
 */
export function decodeQueuedWrite(json: string): QueuedWrite {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new StrataError('VALIDATION_FAILED', 'queued write: not JSON', { cause: err });
  }
  return parseQueuedWrite(value);
}

function validWrite(value: unknown, label: string, index?: number): QueuedWrite {
  const write = value as QueuedWrite;
  // A version of -1 goes with `conditional`, and only with it (read once the shape is checked).
  const issue =
    queuedWrite(value, []) ??
    ((write.version === -1) === (write.conditional !== undefined)
      ? undefined
      : {
          path: ['version'],
          message: write.conditional
            ? 'a conditional write has version -1'
            : outOfBounds('small', 'number', 0, '>='),
        });
  if (issue) {
    const field = issue.path.join('.') || 'write';
    throw new StrataError('VALIDATION_FAILED', `${label}: ${field}: ${issue.message}`, {
      details: index === undefined ? { field } : { field, index },
    });
  }
  return known(value as QueuedWrite);
}

/** A frozen copy with only a write's own fields (`restored` only when true); no `row: undefined` on deletes, so a write read back equals the one enqueued. */
function known({
  schema,
  keyPrefix,
  id,
  version,
  op,
  row,
  restored,
  under,
  defaults,
  conditional,
}: QueuedWrite): QueuedWrite {
  const write: QueuedWrite =
    row === undefined ? { schema, id, version, op } : { schema, id, version, op, row };
  if (keyPrefix !== undefined) write.keyPrefix = keyPrefix;
  if (row !== undefined && under !== undefined)
    write.under = Object.freeze(
      under.row === undefined
        ? { below: under.below }
        : {
            below: under.below,
            row: under.row,
            ...(under.defaults?.length && { defaults: [...under.defaults] }),
          },
    );
  if (row !== undefined && defaults?.length) write.defaults = [...defaults];
  // A flag, not a field to check: anything but `true` is left out, never a reason to refuse the write.
  if (restored === true) write.restored = true;
  if (conditional !== undefined) write.conditional = Object.freeze({ until: conditional.until });
  return Object.freeze(write);
}
