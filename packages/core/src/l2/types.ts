/**
 * A Lua script the engine runs on L2. Every conditional write, versioned write, generation read and
 * drop is one of these (see `scripts.ts`): the semantics live in core, so an implementation only
 * has to carry them to Redis.
 */
export interface L2Script {
  /** Short name for stats, logs and latency labels, e.g. `put`. */
  readonly name: string;
  /** The Lua source. Implementations run it by its SHA-1 (EVALSHA) and send it once per server. */
  readonly source: string;
}

/**
 * The L2 seam: a Redis, as far as Strata needs one. Two operations, each ONE round trip whatever the
 * number of keys: a multi-key GET, and a Lua script. Values are strings (the engine's envelopes);
 * implementations never parse or change them. Implementations throw on failure; the engine wraps
 * them with timeouts and a circuit breaker (`guardL2`).
 *
 * @example
 * const l2 = createUpstashL2({ url, token });
 * await l2.run({ name: 'set', source: "return redis.call('SET', KEYS[1], ARGV[1])" }, ['k'], ['v']);
 * await l2.getMany(['k', 'missing']); // ['v', null]
 */
export interface L2Tier {
  /** Short name for stats and logs, e.g. `upstash`, `ioredis`. */
  readonly name: string;
  /** `MGET`: the values in the order of `keys`, `null` where a key holds nothing (or no string). */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /**
   * Runs `script` atomically with `KEYS` = `keys` and `ARGV` = `args` (EVALSHA, falling back to EVAL
   * when the server does not know the script yet). Resolves Redis' reply as the client decodes it:
   * integers as numbers, bulk strings as strings, nil as null, arrays as arrays.
   *
   * `sendBy` (a `performance.now()` reading; the engine passes its call's deadline): the caller
   * gives up then and reports that nothing was written, so the script must not be sent after it.
   * An implementation whose client holds commands while disconnected (ioredis' offline queue)
   * refuses instead of sending it late: a script sent then would take a version newer than writes
   * acknowledged meanwhile. What was sent before it may still finish after it (an unknown outcome).
   * A refusal to send says so with `details.sent: false` (see `checkSendBy`): the engine then knows
   * the script never ran; any other failure of a write-behind script is taken as one that may have.
   */
  run(script: L2Script, keys: readonly string[], args: readonly string[], sendBy?: number): Promise<unknown>;
  /**
   * How many replicas each `run` waits for (`WAIT`) before it resolves; absent: none. A write-behind
   * queue in the same Redis that asks for more (`ColocatedQueue.replicas`) is not written inside this
   * tier's scripts, which would acknowledge its writes without them.
   */
  readonly replicas?: number;
  /**
   * A setting of a client handed to the tier that the tier uses as it is and that can do harm (e.g.
   * @upstash/redis retries, which may run a write twice): logged once, as a warning, by each Strata
   * built on the tier.
   */
  readonly warning?: string;
  /** Releases connections the tier opened itself (not ones handed to it). */
  close(): Promise<void>;
}
