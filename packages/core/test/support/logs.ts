import type { Logger } from '../../src/observability/logger.js';

/** A logger that keeps each warning's message for the test to read; errors still reach the console. */
export function warningLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (message) => void warnings.push(message),
    error: (message, fields) => console.error(message, fields),
  };
  return { logger, warnings };
}
