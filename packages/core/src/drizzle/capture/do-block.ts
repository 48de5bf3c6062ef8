import { StrataError } from '../../errors.js';

/**
 * An anonymous plpgsql block, `body` quoted with `$tag$`. INVALID_MODEL when the body holds the
 * quote (a table, schema or app name that contains it would end the block early).
 * @example doBlock('strata_capture_remove', 'DROP FUNCTION IF EXISTS f();')
 */
export function doBlock(tag: string, body: string): string {
  const quote = `$${tag}$`;
  if (body.includes(quote))
    throw new StrataError('INVALID_MODEL', `a name in capture's DDL contains ${quote}`);
  return `DO ${quote} BEGIN ${body} END ${quote}`;
}
