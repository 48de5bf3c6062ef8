import { createHash } from 'node:crypto';
import type { Strata } from '@strata/core';
import { testDevstack } from '@strata/devstack/testing';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { L2Script } from '../../packages/core/src/l2/types.js';
import { type Command, type ReorderProxy, startReorderProxy } from './reorder-proxy.js';
import { type TierStack, tierStack } from './stack-tiers.js';

/** What a reorder probe's describe block works with (set once its `beforeAll` ran). */
export interface ReorderSuite {
  stack: TierStack;
  proxy: ReorderProxy;
  /** Stratas the test opened: each closed after it. */
  readonly opened: Strata[];
}

/**
 * Registers, in the calling describe block, a tier stack over Upstash named `label`, a reorder proxy
 * in front of the devstack's Upstash endpoint, and the hooks that close what a test opened and then
 * both. Read the fields inside tests, not at collection time.
 * @example
 * const suite = reorderSuite('reorder_gen');
 * it('…', async () => { const url = suite.proxy.url; … });
 */
export function reorderSuite(label: string): ReorderSuite {
  const suite = { opened: [] } as unknown as ReorderSuite;
  beforeAll(async () => {
    suite.stack = await tierStack(label, 'upstash');
    suite.proxy = await startReorderProxy(testDevstack().upstash!.url);
  });
  afterEach(async () => {
    await Promise.allSettled(suite.opened.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await suite.proxy?.close();
    await suite.stack?.cleanup();
  });
  return suite;
}

/**
 * Whether a request runs one of `scripts` (EVALSHA of its SHA-1, or EVAL of its text), and passes
 * `when` (its keys and arguments: `c[2]` is the key count).
 */
export function runsScript(
  scripts: readonly L2Script[],
  when: (command: Command) => boolean = () => true,
): (commands: readonly Command[]) => boolean {
  const shas = new Set(scripts.map((s) => createHash('sha1').update(s.source).digest('hex')));
  const sources = new Set(scripts.map((s) => s.source));
  return (commands) =>
    commands.some(
      (c) =>
        ((c[0] === 'EVALSHA' && shas.has(String(c[1]))) || (c[0] === 'EVAL' && sources.has(String(c[1])))) &&
        when(c),
    );
}
