/**
 * Structured logging seam (Logger in the Go library Strata); `fields` never carry secrets or
 * plaintext values.
 * @example
 * const logger: Logger = {
 *   debug: () => {},
 *   info: (message, fields) => pino.info(fields, message),
 *   warn: (message, fields) => pino.warn(fields, message),
 *   error: (message, fields) => pino.error(fields, message),
 * };
 * new Strata({ l3, logger });
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const noopLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The default logger (no `logger` option): `warn` and `error` to `console`, each distinct event
 * (its level and error, or message when it has no error) once per instance, at most 100 of them, so that a degraded
 * Strata (L2 refused or down, a schema refused) is seen without flooding a test run or a bench.
 * `logger: false` silences it; a logger of yours replaces it.
 * @example new Strata({ l3, logger: defaultLogger() }) // what Strata does when `logger` is omitted
 */
export function defaultLogger(): Logger {
  const seen = new Set<string>();
  const once =
    (level: 'warn' | 'error') =>
    (message: string, fields?: Record<string, unknown>): void => {
      // The failure, not the call that met it: a refused L2 fails get, set and the rest alike.
      const key = level + String(fields?.error ?? message);
      if (seen.size < 100 && !seen.has(key)) {
        seen.add(key);
        console[level](`strata ${level}: ${message}`, fields ?? {});
      }
    };
  return { ...noopLogger, warn: once('warn'), error: once('error') };
}

/**
 * Logs through `console` (present in every runtime), one JSON-ish line per event.
 * @example new Strata({ logger: consoleLogger('warn'), … })
 */
export function consoleLogger(level: 'debug' | 'info' | 'warn' | 'error' = 'info'): Logger {
  const order = ['debug', 'info', 'warn', 'error'] as const;
  const min = order.indexOf(level);
  const at =
    (lvl: (typeof order)[number]) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (order.indexOf(lvl) < min) return;
      console[lvl](`strata ${lvl}: ${message}`, fields ?? {});
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
