/**
 * Graceful shutdown of the HTTP side: finish in-flight requests, end SSE streams, abort blocking commands,
 * then drop the (now idle) keep-alive sockets so `server.close()` actually completes.
 */
import type { Server, ServerResponse } from 'node:http';

/** In-flight requests get this long to finish before their sockets are cut. */
const DRAIN_TIMEOUT_MS = 5_000;

export class StopTracker {
  readonly #inflight = new Set<ServerResponse>();
  readonly #onStop = new Set<() => void>();
  #stopping = false;
  #drained: (() => void) | undefined;

  constructor(private readonly server: Server) {}

  get stopping(): boolean {
    return this.#stopping;
  }

  track(res: ServerResponse): void {
    this.#inflight.add(res);
    res.once('close', () => {
      this.#inflight.delete(res);
      if (this.#inflight.size === 0) this.#drained?.();
    });
  }

  /** Runs `hook` when stopping starts (ends an SSE stream); returns its deregistration. */
  onStop(hook: () => void): () => void {
    if (this.#stopping) hook();
    else this.#onStop.add(hook);
    return () => this.#onStop.delete(hook);
  }

  /**
   * A signal aborted when the client disconnects before its response was sent, or when the server stops:
   * a blocking command (BLPOP 0) must not hold the shutdown hostage.
   */
  signalFor(res: ServerResponse): AbortSignal {
    const controller = new AbortController();
    const abort = () => controller.abort();
    const unregister = this.onStop(abort);
    res.once('close', () => {
      unregister();
      if (!res.writableFinished) abort();
    });
    return controller.signal;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    for (const hook of [...this.#onStop]) hook();
    this.#onStop.clear();
    if (this.#inflight.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DRAIN_TIMEOUT_MS);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    // Answered keep-alive sockets would otherwise linger for keepAliveTimeout and delay `close`.
    this.server.closeAllConnections();
    await closed;
  }
}
