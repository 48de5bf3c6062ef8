import { afterAll, beforeAll, describe } from 'vitest';
import type { L2Tier } from '../src/l2/types.js';
import { describeDueScripts } from './l2-conformance-due.js';
import { describeEnqueueScript } from './l2-conformance-enqueue.js';
import { describeLifeScripts } from './l2-conformance-life.js';
import { describeMarkScripts } from './l2-conformance-mark.js';
import { describeOrderedScripts } from './l2-conformance-ordered.js';
import { describePendingIndexScripts } from './l2-conformance-pending.js';
import { describeWriteScripts } from './l2-conformance-put.js';
import { describeSeam } from './l2-conformance-seam.js';

/**
 * A plain client on the same Redis, outside the tier under test: for what a test must see or do
 * without going through the seam (a value in another format, a key's TTL, the script cache).
 */
export interface L2RawClient {
  /** `GET`: the stored string, null when the key holds none. */
  get(key: string): Promise<string | null>;
  /** `SET` without expiry. */
  set(key: string, value: string): Promise<void>;
  /** `PTTL`: ms left, -1 for no expiry, -2 for a missing key. */
  pttl(key: string): Promise<number>;
  /** `SCRIPT EXISTS` of one SHA-1. */
  scriptExists(sha1: string): Promise<boolean>;
}

/** What a conformance run needs from an implementation. */
export interface L2Fixture {
  tier: L2Tier;
  /** Every key the suite writes starts with this; unique to the run. */
  prefix: string;
  raw: L2RawClient;
  /** How many requests (round trips) the tier sent to Redis while `during` ran. */
  roundTrips(during: () => Promise<unknown>): Promise<number>;
  /** Deletes every key under `prefix` and closes the tier (and whatever the fixture opened). */
  cleanup(): Promise<void>;
}

/** What an implementation does not promise, declared next to its fixture. */
export interface L2ConformanceOptions {
  /**
   * Which strings the tier hands back exactly. Every value Strata writes starts with `~`, so it is
   * never JSON text and never starts with a BOM: the envelope checks hold whatever this says.
   * - `'exact'` (default): every string.
   * - `'bom-dropped'`: all but a string that starts with U+FEFF, which comes back without it
   *   (`@upstash/redis` decodes replies with a default `TextDecoder`).
   * - `'json-parsed'`: neither those nor JSON text, which a client that parses replies (an
   *   `@upstash/redis` client made with `automaticDeserialization` on) turns into numbers,
   *   objects or other strings: MGET then reads them as null or changed.
   */
  rawStrings?: 'exact' | 'bom-dropped' | 'json-parsed';
}

/** What the suite's parts share: the fixture of the running suite. */
export interface L2Suite {
  readonly options: L2ConformanceOptions;
  readonly l2: L2Tier;
  readonly raw: L2RawClient;
  /** The suite's key for `suffix` (under the fixture's prefix). */
  key(suffix: string): string;
  roundTrips(during: () => Promise<unknown>): Promise<number>;
  /** Makes another fixture (for the `close()` tests); the caller cleans it up. */
  another(): Promise<L2Fixture>;
}

/**
 * The L2 seam's conformance suite, written once and run against every implementation: the seam
 * itself (MGET, scripts, errors, close) and the semantics of every script in `scripts.ts`, on a
 * real Redis. `factory` is called once for the suite and once more for the `close()` test;
 * `options` declares what the implementation does not promise (see `L2ConformanceOptions`).
 *
 * @example
 * describeL2Conformance('ioredis', async () => {
 *   const prefix = `${uniqueName('l2conf')}:`;
 *   const tier = createIoredisL2(serviceUrls().redisUrl);
 *   return { tier, prefix, raw, roundTrips, cleanup: async () => { await deletePrefix(prefix); await tier.close(); } };
 * });
 */
export function describeL2Conformance(
  name: string,
  factory: () => Promise<L2Fixture>,
  options: L2ConformanceOptions = {},
): void {
  describe(`L2 conformance: ${name}`, () => {
    let fixture: L2Fixture | undefined;
    const current = (): L2Fixture => {
      if (fixture === undefined) throw new Error('the L2 fixture did not start');
      return fixture;
    };
    const suite: L2Suite = {
      options,
      get l2() {
        return current().tier;
      },
      get raw() {
        return current().raw;
      },
      key: (suffix) => `${current().prefix}${suffix}`,
      roundTrips: (during) => current().roundTrips(during),
      another: factory,
    };

    beforeAll(async () => {
      fixture = await factory();
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });

    describe('seam', () => describeSeam(suite));
    describe('PUT and DROP', () => describeWriteScripts(suite));
    describe('ORDERED_PUT, SEED_COUNTER, GENERATION, NEXT_GENERATION', () => describeOrderedScripts(suite));
    describe('ORDERED_PUT_ENQUEUE', () => describeEnqueueScript(suite));
    describe('MARK and the change relay scripts', () => describeMarkScripts(suite));
    describe('the pending index: ORDERED_PUT, PENDING (read, done, put), PUT settle', () =>
      describePendingIndexScripts(suite));
    describe('every tick script with the boot marker its caller knows (LIFE)', () =>
      describeLifeScripts(suite));
    describe("a write-behind script's deadline on Redis' clock (PAST_DUE, DUE_PEEK)", () =>
      describeDueScripts(suite));
  });
}
