import type { TestProject } from 'vitest/node';
import { type EmbeddedMode, startDevstack } from '../src/start.js';

/**
 * Starts the devstack once per test run over the real services and hands its URLs to every test
 * file through `inject('devstack')` (see `@strata/devstack/testing`). Missing services fail the run:
 * set STRATA_DEVSTACK_EMBEDDED=auto to run on a machine without them.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const embedded = (process.env.STRATA_DEVSTACK_EMBEDDED ?? 'never') as EmbeddedMode;
  const stack = await startDevstack({ embedded });
  const { stop, ...info } = stack;
  project.provide('devstack', info);
  return stop;
}
