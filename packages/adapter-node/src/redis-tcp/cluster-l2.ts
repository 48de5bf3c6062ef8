import type { L2Tier } from '@strata/core';
import { checkSendBy, getManyByMget, type L2Script } from '@strata/core/driver';
import type { Cluster } from 'ioredis';
import { hashSlot } from './cluster-slots.js';
import { quitConnection } from './quit-connection.js';
import { readyBy } from './ready-by.js';
import { execThenWait } from './replicated-pipeline.js';
import { scriptSha } from './script-sha.js';
import { checkReplicas, type ReplicaAck } from './wait-replicas.js';

/**
 * The L2 over a Redis Cluster (ioredis `Cluster`). What differs from the single-node tier:
 *
 * - `getMany` groups the keys by hash slot and sends one MGET per slot, in parallel, merging the
 *   replies back in order (a Cluster refuses one MGET across slots with CROSSSLOT): round trips =
 *   slots touched. Keys under one hash tag are one slot, so one MGET.
 * - `run` needs every key of a call in one slot, as any multi-key command on a Cluster: Strata's
 *   keys all start with its keyPrefix, so a keyPrefix with a hash tag (`{shop}`) pins them to one.
 *   With `replicas` > 0 the script is followed by `WAIT replicas timeout` on the same connection,
 *   in one pipeline: a write resolves once a replica has it too (see `ReplicaAck`).
 * - No write coalescing (it corks one socket; a Cluster has one per node).
 *
 * EVALSHA falls back to EVAL on NOSCRIPT per call, which works per node: each master caches the
 * script the first time it is sent there.
 */
export class ClusterL2 implements L2Tier {
  readonly name = 'ioredis-cluster';
  readonly #cluster: Cluster;
  readonly #owned: boolean;
  readonly #ack: ReplicaAck;
  #closing: Promise<void> | undefined;

  /** `owned`: opened here, so close() quits it; a `borrowed` one stays open. */
  constructor(cluster: Cluster, connection: 'owned' | 'borrowed', ack: ReplicaAck) {
    this.#cluster = cluster;
    this.#owned = connection === 'owned';
    this.#ack = ack;
  }

  /** Every script waits for this many replicas (`WAIT`): see `L2Tier.replicas`. */
  get replicas(): number {
    return this.#ack.replicas;
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    // slot -> the indexes of its keys in `keys`
    const groups = new Map<number, number[]>();
    for (let i = 0; i < keys.length; i++) {
      const slot = hashSlot(keys[i]!);
      const group = groups.get(slot);
      if (group === undefined) groups.set(slot, [i]);
      else group.push(i);
    }
    if (groups.size === 1) return getManyByMget(this.name, keys, (k) => this.#cluster.mget(k));
    const values = new Array<string | null>(keys.length);
    await Promise.all(
      Array.from(groups.values(), async (indexes) => {
        const part = indexes.map((i) => keys[i]!);
        const got = await getManyByMget(this.name, part, (k) => this.#cluster.mget(k));
        for (let j = 0; j < indexes.length; j++) values[indexes[j]!] = got[j]!;
      }),
    );
    return values;
  }

  async run(
    script: L2Script,
    keys: readonly string[],
    args: readonly string[],
    sendBy?: number,
  ): Promise<unknown> {
    const waiting = readyBy(this.#cluster, this.name, script, sendBy);
    if (waiting) await waiting;
    if (this.#ack.replicas === 0 || keys.length === 0) {
      try {
        return await this.#cluster.evalsha(scriptSha(script), keys.length, ...keys, ...args);
      } catch (err) {
        if (!isNoScript(err)) throw err;
        return this.#cluster.eval(script.source, keys.length, ...keys, ...args);
      }
    }
    // A pipeline goes to the node of its keys, on one connection: WAIT then counts the replicas
    // that have this script's writes.
    // Tries after MOVED stop at the WAIT timeout, or sooner at the caller's deadline.
    const retryWithinMs = (started: number) =>
      sendBy === undefined ? this.#ack.timeoutMs : Math.min(this.#ack.timeoutMs, sendBy - started);
    let replies = await execThenWait(
      this.#cluster,
      (p) => p.evalsha(scriptSha(script), keys.length, ...keys, ...args),
      this.#ack,
      retryWithinMs(performance.now()),
    );
    if (isNoScript(replies[0]?.[0])) {
      checkSendBy(this.name, script, sendBy);
      replies = await execThenWait(
        this.#cluster,
        (p) => p.eval(script.source, keys.length, ...keys, ...args),
        this.#ack,
        retryWithinMs(performance.now()),
      );
    }
    const [[scriptError, reply] = [], [waitError, acked] = []] = replies;
    if (scriptError) throw scriptError;
    if (waitError) throw waitError;
    checkReplicas(this.name, this.#ack, acked);
    return reply;
  }

  /** Quits an owned client (once, however often it is called); a borrowed one stays open. */
  close(): Promise<void> {
    this.#closing ??= this.#owned ? quitConnection(this.#cluster) : Promise.resolve();
    return this.#closing;
  }
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}
