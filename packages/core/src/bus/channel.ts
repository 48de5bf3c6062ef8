import { strataDefaults } from '../config.js';

/**
 * The invalidation bus's channel (pub/sub) for an app: `{keyPrefix}:invalidate`; the log bus's
 * stream is this plus `:log`. Apps sharing a Redis under different key prefixes never hear each
 * other's invalidations.
 * @example
 * invalidationChannel(); // 'strata:invalidate'
 * createUpstashLogBus({ url, token, stream: `${invalidationChannel('shop')}:log` });
 */
export function invalidationChannel(keyPrefix: string = strataDefaults.keyPrefix): string {
  return `${keyPrefix}:invalidate`;
}
