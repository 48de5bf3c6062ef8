/**
 * A connection URL fit to print: its password replaced by `***`. A copy of the devstack's `redact`,
 * which this package cannot import at run time (the devstack is a dev dependency only).
 * @example redactUrl('redis://:s3cret@127.0.0.1:6379'); // 'redis://:***@127.0.0.1:6379'
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable url>';
  }
}
