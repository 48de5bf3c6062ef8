import { StrataError } from '../errors.js';

// Messages name the field and the offending type, never a value: a row may hold personal data or
// secrets, and parser errors quote their input, so those stay in `cause` only.

/**
 * `ENCODE_FAILED` for one field. `cause` defaults to a `TypeError` carrying `why`, so there is
 * always one to inspect.
 */
export function encodeFailed(codec: string, field: string, why: string, cause?: unknown): StrataError {
  return new StrataError('ENCODE_FAILED', `${codec} codec cannot encode field "${field}": ${why}`, {
    cause: cause ?? new TypeError(why),
    details: { codec, field },
  });
}

/** `DECODE_FAILED` for the whole stored value, or for one field when `field` is given. */
export function decodeFailed(codec: string, why: string, cause?: unknown, field?: string): StrataError {
  const where = field === undefined ? 'stored value' : `field "${field}"`;
  return new StrataError('DECODE_FAILED', `${codec} codec cannot decode ${where}: ${why}`, {
    cause: cause ?? new TypeError(why),
    details: field === undefined ? { codec } : { codec, field },
  });
}

/** A short type name for messages: 'string', 'Date', 'Map', 'null', ... never the value itself. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value !== 'object') return typeof value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === null) return 'object';
  const ctor: unknown = (proto as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name !== '' ? ctor.name : 'object';
}
