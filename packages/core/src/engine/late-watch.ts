/**
 * Watches statements that outlived their timeout (see `LateWrite`) until they settle, or until the
 * instance closes. A statement the network holds (a frozen link, no reply, no reset) may never
 * settle as far as this process can tell: `close()` waited for its watch among the deferred work and
 * never returned (reliability/test/regression-close-late-write.test.ts). On `release` every watch
 * ends at once: what waited for the statement runs now, and the instance stops watching.
 */
export class LateWatch {
  #released = false;
  readonly #waiting = new Set<() => void>();

  /** Resolves once `work` settles (either way: only its end matters) or `release` is called. */
  settledOrReleased(work: Promise<unknown>): Promise<void> {
    if (this.#released) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const end = () => {
        this.#waiting.delete(end);
        resolve();
      };
      this.#waiting.add(end);
      work.then(end, end);
    });
  }

  /** Ends every watch, now and from now on (the instance is closing). */
  release(): void {
    this.#released = true;
    for (const end of [...this.#waiting]) end();
  }
}
