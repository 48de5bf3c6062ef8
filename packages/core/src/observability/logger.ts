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
