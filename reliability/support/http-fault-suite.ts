import type { Strata } from '@strata/core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type FaultScratch, faultScratch } from './fault-harness.js';
import { type HttpFaultProxy, startHttpFaultProxy } from './http-fault-proxy.js';

/** What an HTTP-fault test file works with, set up before its tests. */
export interface HttpFaultSuite {
  proxy: HttpFaultProxy;
  store: FaultScratch;
  /** Instances to close after each test. */
  readonly instances: Strata[];
}

/**
 * The hooks every HTTP-fault test file needs: a fault proxy in front of `target()` and a scratch
 * area before the tests; after each test the proxy passes again (held requests reset) and the
 * test's instances close; at the end both go away. `onStart` points clients at the proxy.
 * @example const suite = httpFaultSuite('faults_upstash', () => testDevstack().upstash!.url);
 */
export function httpFaultSuite(
  label: string,
  target: () => string,
  onStart?: (proxy: HttpFaultProxy) => void,
): HttpFaultSuite {
  const suite = { instances: [] as Strata[] } as HttpFaultSuite;
  beforeAll(async () => {
    suite.proxy = await startHttpFaultProxy(target());
    onStart?.(suite.proxy);
    suite.store = await faultScratch(label);
  });
  afterEach(async () => {
    suite.proxy.release('reset');
    suite.proxy.pass();
    await Promise.allSettled(suite.instances.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await suite.proxy?.close();
    await suite.store?.cleanup();
  });
  return suite;
}
