/**
 * A cap on the request-body bytes all requests hold at once. The per-request limit alone still lets
 * many concurrent large requests add up (each body is also decoded, parsed and re-encoded for Redis,
 * several copies), which is how two dozen large requests once took the server to gigabytes.
 */
import type { ServerResponse } from 'node:http';
import { HttpError } from './commands.js';

export class BodyBudget {
  #held = 0;

  constructor(readonly limit: number) {}

  /** Bytes held right now. */
  get held(): number {
    return this.#held;
  }

  /**
   * A function that reserves body bytes for `res`'s request as they arrive, throwing 503 past the
   * budget; everything it reserved is given back when the response closes.
   * @example const take = budget.lease(res); take(chunk.length);
   */
  lease(res: ServerResponse): (bytes: number) => void {
    let reserved = 0;
    res.once('close', () => {
      this.#held -= reserved;
      reserved = 0;
    });
    return (bytes) => {
      if (this.#held + bytes > this.limit) {
        throw new HttpError(
          503,
          `ERR the server already holds ${this.#held} bytes of request bodies (the limit is ${this.limit}): retry later`,
        );
      }
      this.#held += bytes;
      reserved += bytes;
    };
  }
}
