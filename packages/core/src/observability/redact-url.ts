/**
 * A connection URL fit to print (logs, errors, CLI output): its password replaced by `***`.
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
