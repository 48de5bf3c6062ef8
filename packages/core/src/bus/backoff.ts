import { type OneShot, runtimeTimer } from '../resilience/wait.js';

/**
 * The wait before reconnect attempt `failures` (1, 2, …): doubling from `minMs` up to `maxMs`, with
 * "equal jitter" (half fixed, half random) so instances cut off together do not return together.
 *
 * @example
 * backoffDelay(1, 100, 5_000); // 50..100
 * backoffDelay(10, 100, 5_000); // 2_500..5_000
 */
export function backoffDelay(failures: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.max(0, failures - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * Resolves after `ms` (on `timer`: the runtime's unless the bus has the host's, see
 * `BusHandlers.timer`), or at once when `signal` aborts — and then cancels its timer, so nothing is
 * left running after the owner closed. Never rejects.
 *
 * @example
 * await sleep(backoffDelay(failures, 100, 5_000), lifetime.signal, delivery.timer);
 */
export function sleep(ms: number, signal: AbortSignal, timer: OneShot = runtimeTimer): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    let cancel: (() => void) | undefined;
    const done = () => {
      cancel?.();
      signal.removeEventListener('abort', done);
      resolve();
    };
    cancel = timer(ms, done);
    signal.addEventListener('abort', done, { once: true });
  });
}
