// The suites run.mjs knows, in run order: key, label, and a loader of the suite's function. run.mjs
// reads the keys and labels; run-suite.mjs, the child process that runs one suite, loads it.

/**
 * Suites whose numbers are exact or too slow to repeat run once: round trips are counted, memory
 * and hit rates are deterministic, the load suite takes a minute of its own.
 */
export const once = new Set(['round-trips', 'capture-workerd', 'memory', 'load']);

/** `[key, label, load]`; `await load()` is `(stack, { quick, log }) => Promise<{ rows, targets, … }>`. */
export const suites = [
  ['l1', 'L1 hit get', async () => (await import('../suites/l1.mjs')).l1Suite],
  ['l2', 'L2 hit get', async () => (await import('../suites/l2.mjs')).l2Suite],
  ['l3', 'full miss to L3', async () => (await import('../suites/l3.mjs')).l3Suite],
  ['batch', 'getMany / setMany', async () => (await import('../suites/batch.mjs')).batchSuite],
  [
    'round-trips',
    'round trips per operation',
    async () => (await import('../suites/round-trips.mjs')).roundTripsSuite,
  ],
  ['search', 'search and searchCached', async () => (await import('../suites/search.mjs')).searchSuite],
  ['stampede', 'stampede', async () => (await import('../suites/stampede.mjs')).stampedeSuite],
  [
    'staleness',
    'stale-while-revalidate',
    async () => (await import('../suites/staleness.mjs')).stalenessSuite,
  ],
  ['write-modes', 'write modes', async () => (await import('../suites/write-modes.mjs')).writeModesSuite],
  [
    'concurrency',
    'concurrent throughput',
    async () => (await import('../suites/concurrency.mjs')).concurrencySuite,
  ],
  ['capture', 'change capture', async () => (await import('../suites/capture.mjs')).captureSuite],
  [
    'capture-workerd',
    'change capture in workerd',
    async () => (await import('../suites/capture-workerd.mjs')).captureWorkerdSuite,
  ],
  ['memory', 'L1 memory and hit rates', async () => (await import('../suites/memory.mjs')).memorySuite],
  ['load', 'demo worker under load', async () => (await import('../suites/load.mjs')).loadSuite],
];
