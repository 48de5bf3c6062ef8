export interface SignalOptions {
  /** Default ['SIGTERM', 'SIGINT']. */
  signals?: readonly NodeJS.Signals[];
  /** Called with 0 after a clean shutdown, 1 after a failed one. Default `process.exit`. */
  exit?: (code: number) => void;
  /** Where the reason for a failed shutdown goes. Default `console.error`. */
  report?: (message: string, error: unknown) => void;
  /**
   * Told when a signal starts the shutdown (a later call of the instance then fails `UNAVAILABLE`,
   * "closed": this says who closed it). Default `console.warn`.
   */
  notice?: (message: string) => void;
}

/**
 * On the first of `signals`, runs `shutdown` once and exits with its outcome; later signals are
 * ignored while it runs (a listener left in place keeps them from killing the process mid-flush).
 * Returns the function that removes the listeners.
 */
export function onShutdownSignals(shutdown: () => Promise<void>, options: SignalOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const report =
    options.report ?? ((message: string, error: unknown) => console.error(`strata: ${message}:`, error));
  const notice = options.notice ?? ((message: string) => console.warn(`strata: ${message}`));
  let started = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (started) return;
    started = true;
    notice(`${signal} received: shutting down (queued writes flushed first), then exiting`);
    shutdown().then(
      () => exit(0),
      (error: unknown) => {
        report(`shutdown after ${signal} failed`, error);
        exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, handler);
  return () => {
    for (const signal of signals) process.off(signal, handler);
  };
}
