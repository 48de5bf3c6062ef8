export interface SignalOptions {
  /** Default ['SIGTERM', 'SIGINT']. */
  signals?: readonly NodeJS.Signals[];
  /** Called with 0 after a clean shutdown, 1 after a failed one. Default `process.exit`. */
  exit?: (code: number) => void;
  /** Where the reason for a failed shutdown goes. Default `console.error`. */
  report?: (message: string, error: unknown) => void;
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
  let started = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (started) return;
    started = true;
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
