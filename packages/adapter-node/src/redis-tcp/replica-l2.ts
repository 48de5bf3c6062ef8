import {
  type BreakerState,
  type CircuitBreaker,
  checkSendBy,
  getManyByMget,
  type L2Script,
  type L2Tier,
  withTimeout,
} from '@strata/core/driver';
import type { Redis } from 'ioredis';
import { WriteCoalescer } from './coalesce-writes.js';
import { sendMget } from './mget-command.js';
import { quitConnection } from './quit-connection.js';
import { readyBy } from './ready-by.js';
import { ReplicationToken, roleOffset } from './replica-token.js';
import { scriptSha } from './script-sha.js';

/** How the reads of an L2 with a replica went, since it was made. */
export interface ReplicaReadStats {
  /** getMany calls answered by the replica. */
  replica: number;
  /** getMany calls answered by the primary, by why. */
  primary: {
    /** The replica had not applied this instance's last write (or read) yet. */
    behind: number;
    /** The replica failed or timed out (each counts against the breaker). */
    failed: number;
    /** The replica connection was not up, or the breaker was open, or a write's offset was unknown. */
    skipped: number;
  };
  /** The primary's replication offset a replica must have applied to be read (see ReplicationToken). */
  token: number;
  breaker: BreakerState;
}

/** An L2 whose reads go to a replica (read-your-writes): `stats()` tells where they went. */
export interface IoredisReplicaL2 extends L2Tier {
  stats(): ReplicaReadStats;
}

export interface ReplicaL2Settings {
  readTimeoutMs: number;
  breaker: CircuitBreaker;
  /** Hears every replica failure (then read from the primary): none is dropped unseen. */
  onReplicaError: ((error: unknown) => void) | undefined;
}

/**
 * The L2 over a Redis primary and one replica of it. `run` (every write, and the reads that must be
 * atomic) goes to the primary with `ROLE` sent right behind it on the same connection: the primary's
 * replication offset after the script is this instance's token. `getMany` sends `ROLE` then `MGET`
 * back to back on the replica: Redis applies the replication stream between commands and only
 * forwards, so when ROLE's applied offset is at or past the token, the MGET after it shows every
 * write this instance made (and everything it read before). Otherwise, or when the replica fails,
 * times out or is not connected, the read goes to the primary (`MGET` then `ROLE`: see
 * ReplicationToken), counted in `stats()`; a replica that keeps failing is left alone for the
 * breaker's cooldown.
 *
 * Other instances' writes are not waited for: their rows reach this instance's replica reads as
 * fast as replication brings them (see docs/redis-replicas.md for the bound).
 */
export class ReplicaL2 implements IoredisReplicaL2 {
  readonly name = 'ioredis-replica';
  readonly #primary: Redis;
  readonly #replica: Redis;
  readonly #owned: { primary: boolean; replica: boolean };
  readonly #settings: ReplicaL2Settings;
  readonly #token = new ReplicationToken();
  readonly #coalesce: { primary: WriteCoalescer; replica: WriteCoalescer };
  readonly #counts = { replica: 0, behind: 0, failed: 0, skipped: 0 };
  #closing: Promise<void> | undefined;

  constructor(
    primary: Redis,
    replica: Redis,
    owned: { primary: boolean; replica: boolean },
    settings: ReplicaL2Settings,
  ) {
    this.#primary = primary;
    this.#replica = replica;
    this.#owned = owned;
    this.#settings = settings;
    this.#coalesce = { primary: new WriteCoalescer(primary), replica: new WriteCoalescer(replica) };
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    const { breaker } = this.#settings;
    // Taken at the send: everything this instance had seen by now must be on the replica.
    const token = this.#token.offset;
    if (this.#token.unknown || this.#replica.status !== 'ready' || !breaker.tryAcquire()) {
      this.#counts.skipped += 1;
      return this.#readPrimary(keys);
    }
    let read: { offset: number; values: (string | null)[] };
    try {
      read = await withTimeout(this.#readReplica(keys), this.#settings.readTimeoutMs, 'L2 replica read');
    } catch (err) {
      breaker.recordFailure();
      this.#counts.failed += 1;
      this.#settings.onReplicaError?.(err);
      return this.#readPrimary(keys);
    }
    breaker.recordSuccess();
    if (read.offset < token) {
      this.#counts.behind += 1;
      return this.#readPrimary(keys);
    }
    this.#token.noteReplica(read.offset);
    this.#counts.replica += 1;
    return read.values;
  }

  async run(
    script: L2Script,
    keys: readonly string[],
    args: readonly string[],
    sendBy?: number,
  ): Promise<unknown> {
    const waiting = readyBy(this.#primary, this.name, script, sendBy);
    if (waiting) await waiting;
    this.#coalesce.primary.hold();
    // ROLE right behind the script on the same connection (ordered as in a pipeline, without a
    // pipeline's cost): the offset covers what the script did.
    let reply = this.#primary.evalsha(scriptSha(script), keys.length, ...keys, ...args);
    let role = settle(this.#primary.call('ROLE'));
    let outcome = await settle(reply);
    if (
      'error' in outcome &&
      outcome.error instanceof Error &&
      outcome.error.message.startsWith('NOSCRIPT')
    ) {
      await role;
      checkSendBy(this.name, script, sendBy);
      reply = this.#primary.eval(script.source, keys.length, ...keys, ...args);
      role = settle(this.#primary.call('ROLE'));
      outcome = await settle(reply);
    }
    // Whatever the script's outcome (an error reply may follow writes it made): note the offset.
    await this.#notePrimary(role);
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  }

  stats(): ReplicaReadStats {
    const { replica, behind, failed, skipped } = this.#counts;
    return {
      replica,
      primary: { behind, failed, skipped },
      token: this.#token.offset,
      breaker: this.#settings.breaker.state,
    };
  }

  /** Quits the connections opened here (once, however often it is called); borrowed ones stay open. */
  close(): Promise<void> {
    this.#closing ??= Promise.all([
      this.#owned.primary ? quitConnection(this.#primary) : undefined,
      this.#owned.replica ? quitConnection(this.#replica) : undefined,
    ]).then(() => undefined);
    return this.#closing;
  }

  /**
   * ROLE then MGET on the replica, back to back on its connection (ordered as in a pipeline, without
   * a pipeline's cost): the offset the values are at least as new as.
   */
  async #readReplica(keys: readonly string[]): Promise<{ offset: number; values: (string | null)[] }> {
    this.#coalesce.replica.hold();
    const role = settle(this.#replica.call('ROLE'));
    const read = settle(getManyByMget(this.name, keys, (k) => sendMget(this.#replica, k)));
    const [roleReply, values] = [await role, await read];
    if ('error' in roleReply) throw roleReply.error;
    if ('error' in values) throw values.error;
    const offset = roleOffset(roleReply.value, 'slave');
    if (offset === undefined) {
      // Promoted, or not a replica at all: it does not follow the primary this tier writes to.
      throw new Error(`the replica answered ROLE with ${JSON.stringify(roleReply.value)}, not as a replica`);
    }
    return { offset, values: values.value };
  }

  /** MGET then ROLE on the primary, back to back: the token moves to what this read saw. */
  async #readPrimary(keys: readonly string[]): Promise<(string | null)[]> {
    this.#coalesce.primary.hold();
    const read = settle(getManyByMget(this.name, keys, (k) => sendMget(this.#primary, k)));
    const role = settle(this.#primary.call('ROLE'));
    const values = await read;
    await this.#notePrimary(role);
    if ('error' in values) throw values.error;
    return values.value;
  }

  /** The token moves to the primary's offset in `role`; a failed ROLE makes it unknown (see ReplicationToken). */
  async #notePrimary(role: Promise<Settled<unknown>>): Promise<void> {
    const reply = await role;
    if ('error' in reply) this.#token.lost();
    else this.#token.notePrimary(reply.value);
  }
}

type Settled<T> = { value: T } | { error: unknown };

/** A promise's outcome as a value: both of two commands sent together are awaited, none left unobserved. */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}
