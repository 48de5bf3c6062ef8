import type { RelayPlan } from '../../src/capture/change-relay.js';
import { ChangeRelay } from '../../src/capture/relay.js';
import type { ChangePage, ChangeSource } from '../../src/capture/types.js';
import { type Deferred, deferred } from './deferred.js';

/**
 * The real change source, whose next read can be held after its SQL ran: `hold()` arms it and
 * resolves with the page once the read has run; the read answers only when `release()` is called.
 * Stands for a relay stopped in the middle of a read (a paused or stalled process).
 */
export class HeldSource implements ChangeSource {
  readonly name: string;
  #armed: { ran: Deferred<ChangePage>; gate: Deferred<void> } | undefined;
  #gate: Deferred<void> | undefined;

  constructor(readonly inner: ChangeSource) {
    this.name = `held ${inner.name}`;
  }

  /** Holds the next read; resolves with what it read, once it has (the SQL ran). */
  hold(): Promise<ChangePage> {
    const ran = deferred<ChangePage>();
    this.#armed = { ran, gate: deferred<void>() };
    return ran.promise;
  }

  /** Lets the held read answer. */
  release(): void {
    this.#gate?.resolve();
  }

  start(): Promise<string> {
    return this.inner.start();
  }

  async read(cursor: string): Promise<ChangePage> {
    const page = await this.inner.read(cursor);
    const armed = this.#armed;
    if (armed) {
      this.#armed = undefined;
      this.#gate = armed.gate;
      armed.ran.resolve(page);
      await armed.gate.promise;
    }
    return page;
  }
}

/**
 * A relay plan with a short lease and a read deadline longer than it: a read held past the lease
 * is not given up by its own timeout, as in a process paused mid-read (its timers are late too).
 * The interval is an hour: only `relayChanges()` reads.
 */
export function shortLeasePlan(leaseMs: number): RelayPlan {
  const intervalMs = 3_600_000;
  const retentionMs = 86_400_000;
  return {
    intervalMs,
    retentionMs,
    create: (parts) => new ChangeRelay({ ...parts, intervalMs, retentionMs, leaseMs, readTimeoutMs: 60_000 }),
  };
}
