/** The longest `delaySeconds` Cloudflare Queues accept on a retry: 12 hours. */
export const MAX_RETRY_DELAY_SECONDS = 43_200;

/**
 * Seconds before a retried write comes back, by its deliveries before this one: 2, 4, 8, 16, 32,
 * then 60. Short enough that a Postgres blip costs seconds, long enough that an outage is not
 * hammered by every message of the backlog at once.
 *
 * @example defaultRetryDelay(0); // 2: the first retry
 */
export function defaultRetryDelay(attempts: number): number {
  return Math.min(60, 2 ** (attempts + 1));
}

/** What the platform accepts: whole seconds in [0, 12 h]; a NaN from a custom policy means none. */
export function clampDelay(seconds: number): number {
  if (!Number.isFinite(seconds)) return seconds > 0 ? MAX_RETRY_DELAY_SECONDS : 0;
  return Math.min(MAX_RETRY_DELAY_SECONDS, Math.max(0, Math.round(seconds)));
}
