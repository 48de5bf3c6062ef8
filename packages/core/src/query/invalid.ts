import { StrataError } from '../errors.js';

/** Longest excerpt of a rejected value kept in an error: enough to recognise it, too short to flood a log. */
const PREVIEW_CHARS = 64;

/**
 * An INVALID_QUERY error naming the part of the query at fault (`where`, `orderBy`, `fields`,
 * `limit`, `offset`, `desc`, `query`) in `details.field`, so callers can map it to a form field.
 */
export function invalidQuery(
  field: string,
  message: string,
  details: Record<string, unknown> = {},
): StrataError {
  return new StrataError('INVALID_QUERY', message, { details: { field, ...details } });
}

/**
 * A short, log-safe excerpt of an untrusted value: strings cut to 64 UTF-16 units (without leaving
 * half a surrogate pair), anything else described by its type.
 * @example preview('x'.repeat(100)).length; // 65 ('…' appended)
 */
export function preview(value: unknown): string {
  if (typeof value === 'string') {
    if (value.length <= PREVIEW_CHARS) return value;
    let cut = value.slice(0, PREVIEW_CHARS);
    const last = cut.charCodeAt(cut.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
    return `${cut}…`;
  }
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `a ${typeof value}`;
}

/** `preview` quoted the JSON way, so control characters and NUL show as escapes in messages. */
export function quoted(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(preview(value)) : preview(value);
}
