import { z } from 'zod';
import { StrataError } from '../errors.js';
import type { QueuedWrite } from './types.js';

const common = {
  schema: z.string().min(1),
  id: z.string().min(1),
  // A version comes from an L2 INCR: a safe integer, so it survives JSON and compares exactly.
  version: z.number().int().nonnegative(),
};

/**
 * What a {@link QueuedWrite} must look like wherever it crosses a boundary (into a queue, out of a
 * stream or a Cloudflare Queue message). A `set` carries its row; a `delete` may not. Unknown keys
 * are dropped rather than refused, so a newer producer never poisons an older consumer.
 */
export const queuedWriteSchema = z.discriminatedUnion('op', [
  z.object({ ...common, op: z.literal('set'), row: z.string() }),
  z.object({ ...common, op: z.literal('delete'), row: z.undefined().optional() }),
]);

/**
 * Checks one write and returns a frozen copy holding only the known fields; throws
 * `VALIDATION_FAILED` naming the first bad field.
 *
 * @example
 * parseQueuedWrite({ schema: 'users', id: '42', op: 'delete', version: 7 }); // ok
 * parseQueuedWrite({ schema: 'users', id: '42', op: 'set', version: 7 }); // throws: row is missing
 */
export function parseQueuedWrite(value: unknown): QueuedWrite {
  return check(value, 'queued write');
}

/** Checks a whole batch before any of it is used: one bad write rejects the batch (its index in `details`). */
export function parseQueuedWrites(values: readonly unknown[]): QueuedWrite[] {
  return values.map((value, index) => check(value, `writes[${index}]`, index));
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

function check(value: unknown, label: string, index?: number): QueuedWrite {
  const parsed = queuedWriteSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.map(String).join('.') || 'write';
    throw new StrataError('VALIDATION_FAILED', `${label}: ${field}: ${issue.message}`, {
      cause: parsed.error,
      details: index === undefined ? { field } : { field, index },
    });
  }
  const { row, ...rest } = parsed.data;
  // No `row: undefined` on deletes, so a write read back equals the one enqueued.
  return Object.freeze(row === undefined ? rest : { ...rest, row });
}
