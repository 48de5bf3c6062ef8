/**
 * Read replicas behind one REST endpoint, as an Upstash global database serves them: writes go to
 * the primary, reads to a replica, and `upstash-sync-token` keeps each client reading its writes.
 */
import type { Redis } from 'ioredis';
import { roleOffset } from '../redis-replica/offsets.js';
import type { RedisCommand } from './commands.js';
import type { CommandRunner, Outcome } from './redis-commands.js';

/** A request's outcomes and the token to answer with. */
export interface Routed {
  outcomes: Outcome[];
  token: number;
}

/** The client's token: the decimal offset this endpoint answered with, 0 when it sent none. */
export function requestToken(header: string | string[] | undefined): number {
  const value = Number(Array.isArray(header) ? header[0] : header);
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The token is the primary's replication offset (`ROLE`) after what a request did or read there.
 * A read-only request goes to the replica once the replica has applied at least the request's token
 * (its `ROLE`, sent on the same connection right before the commands: replication only moves the
 * replica forward between commands, so the commands see at least that much); it is tried again every
 * few ms while the replica is behind, up to `waitMs`, then answered by the primary. The answer's
 * token never goes below the request's, so a client never moves back.
 */
export class ReplicaReads {
  /** Requests answered by the replica, and by the primary after waiting `waitMs` for the replica. */
  readonly counts = { replica: 0, primary: 0 };

  constructor(
    private readonly primary: { runner: CommandRunner; redis: Redis },
    private readonly replica: { runner: CommandRunner; redis: Redis },
    private readonly waitMs: number,
  ) {}

  /** A write (or anything not read-only) on the primary, then its offset as the token. */
  async onPrimary(run: () => Promise<Outcome[]>, token: number): Promise<Routed> {
    const outcomes = await run();
    return { outcomes, token: Math.max(token, await this.#primaryOffset()) };
  }

  /** Read-only commands: on the replica once it shows `token`, else (after waitMs) on the primary. */
  async read(commands: RedisCommand[], token: number, signal?: AbortSignal): Promise<Routed> {
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      // Not connected (down, restarting): no waiting on it, the primary answers.
      if (this.replica.redis.status !== 'ready') break;
      try {
        // Sent back to back on the replica's connection: ROLE runs first, then the commands.
        const role = this.replica.redis.call('ROLE');
        const outcomes = this.replica.runner.pipeline(commands, signal);
        const applied = roleOffset(await role);
        if (applied >= token && applied >= 0) {
          const answered = await outcomes;
          this.counts.replica += 1;
          return { outcomes: answered, token: Math.max(token, applied) };
        }
        await outcomes;
      } catch {
        // The replica is down or restarting: the primary answers (below).
        break;
      }
      if (Date.now() >= deadline) break;
      // Replication has no event to await here; the wait is bounded by waitMs.
      await pause(2);
    }
    this.counts.primary += 1;
    return this.onPrimary(() => this.primary.runner.pipeline(commands, signal), token);
  }

  async #primaryOffset(): Promise<number> {
    try {
      return roleOffset(await this.primary.redis.call('ROLE'));
    } catch {
      // No offset: the token stays what the client sent (its next read may then wait the bound).
      return -1;
    }
  }
}
