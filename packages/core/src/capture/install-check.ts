import type { CaptureCheck } from '../l3/capture.js';
import type { Logger } from '../observability/logger.js';

/**
 * A relay over triggers nobody installed (or someone dropped) reads an empty log forever, quietly:
 * the first poll of each instance checks the install, in the background, and says what is missing
 * (once: the next polls check again, quietly, until nothing is). Part of the relay, not the engine,
 * so a Worker that does not relay does not bundle it.
 */
export class InstallCheck {
  /** The check runs with the next poll: the first one, and each while something is missing. */
  #due = true;
  /** Schemas whose capture the last check found incomplete (`stats().capture.notInstalled`). */
  notInstalled: string[] = [];

  constructor(
    /** Runs `strata.capture.check()`. */
    readonly check: () => Promise<CaptureCheck[]>,
    readonly logger: Logger,
    readonly countError: () => void,
    /** Hands background work to the engine (so close() waits for it). */
    readonly track: (work: Promise<unknown>) => void,
  ) {}

  /** Before a poll: checks in the background when a check is due. */
  once(): void {
    if (!this.#due) return;
    this.#due = false;
    this.track(this.recheck());
  }

  /** Checks the install now (after this instance installed or removed it, say). Never rejects. */
  async recheck(): Promise<void> {
    try {
      const report = await this.check();
      const missing = report.filter((c) => !c.installed).map((c) => c.schema);
      const news = missing.filter((schema) => !this.notInstalled.includes(schema));
      this.notInstalled = missing;
      this.#due = missing.length > 0;
      if (news.length === 0) return;
      this.logger.warn(
        'change capture is not installed for these schemas: writes made outside Strata to them reach no cache; run `strata capture install` (or strata.capture.install())',
        { schemas: news },
      );
    } catch (error) {
      this.#due = true;
      this.countError();
      this.logger.warn('change capture: checking the install failed', { error: String(error) });
    }
  }
}
