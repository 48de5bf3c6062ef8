import { changeRelay, StrataError } from '@strata/core';
import type { RelayPlan } from '@strata/core/driver';

type RelayOptions = NonNullable<Parameters<typeof changeRelay>[0]>;

/** `createStrata`'s `capture.relay`: a plan, `true` for the default one, or `changeRelay`'s options. */
export type NodeRelayOption = RelayPlan | boolean | RelayOptions;

const RELAY_KEYS: ReadonlySet<string> = new Set(['interval', 'retention']);

function refuse(field: string, message: string): never {
  throw new StrataError('INVALID_CONFIG', `${field}: ${message}`, { details: { field } });
}

/** A URL `LISTEN` can use: a TCP Postgres connection (not Neon's HTTP endpoint). */
export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The relay plan `createStrata` was given, checked: a plan as it is, `true` or options through
 * `changeRelay`. A typo (`intervall`), `null` or `'yes'` is INVALID_CONFIG naming the field, never
 * a relay quietly built with defaults or a TypeError later.
 */
export function relayPlan(relay: unknown): RelayPlan | undefined {
  if (relay === undefined || relay === false) return undefined;
  if (relay === true) return changeRelay();
  if (!isPlainObject(relay)) {
    refuse(
      'capture.relay',
      `expected true, false, changeRelay(…) or { interval, retention }, got ${JSON.stringify(relay)}`,
    );
  }
  if (typeof relay.create === 'function') return relay as unknown as RelayPlan;
  const unknown = Object.keys(relay).filter((key) => !RELAY_KEYS.has(key));
  if (unknown.length > 0)
    refuse('capture.relay', `unknown option ${unknown.join(', ')} (it takes interval, retention)`);
  return changeRelay(relay as RelayOptions);
}

/** `capture` itself, and `listen`: the shapes the rest of `createStrata` relies on. */
export function checkCaptureShape(capture: unknown, databaseUrl: string): void {
  if (capture === undefined) return;
  if (!isPlainObject(capture)) refuse('capture', `expected an object, got ${JSON.stringify(capture)}`);
  const { listen } = capture;
  if (listen !== undefined && typeof listen !== 'boolean') {
    refuse('capture.listen', `expected true or false, got ${JSON.stringify(listen)}`);
  }
  if (listen && (capture.relay === undefined || capture.relay === false)) {
    refuse('capture.listen', 'it wakes the relay: turn capture.relay on too');
  }
  if (listen && !isPostgresUrl(databaseUrl)) {
    refuse('capture.listen', 'needs a postgres:// databaseUrl (it LISTENs over TCP)');
  }
}
