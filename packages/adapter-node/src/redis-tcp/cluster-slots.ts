import { StrataError } from '@strata/core';
import type { Cluster, Redis } from 'ioredis';

/** A single Redis connection, or a Redis Cluster client (ioredis `Cluster`). */
export type RedisClient = Redis | Cluster;

export function isCluster(client: RedisClient): client is Cluster {
  return (client as Cluster).isCluster === true;
}

/**
 * The part of a key Redis Cluster hashes: the text between the first `{` and the first `}` after it
 * when that is not empty, else the whole key (the rule of the Redis Cluster specification).
 */
export function hashTag(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open === -1) return undefined;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return undefined;
  return key.slice(open + 1, close);
}

/** CRC16-XMODEM (the one Redis Cluster uses), bit by bit: keys are short, no table needed. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

const utf8 = new TextEncoder();

/** The key's hash slot, 0..16383, as `CLUSTER KEYSLOT` says it. */
export function hashSlot(key: string): number {
  return crc16(utf8.encode(hashTag(key) ?? key)) % 16_384;
}

/**
 * The connection the Cluster client uses for the master that serves `key`'s slot, as its slot map
 * says now (it follows MOVED replies and failovers). Commands sent on it reach that master on the
 * same connection as the Cluster's own commands for the slot, which is what `WAIT` needs.
 */
export async function masterFor(cluster: Cluster, key: string): Promise<Redis> {
  // Before the first connect the slot map is empty; any command waits for the client to be ready.
  if (cluster.status !== 'ready') await cluster.ping();
  const nodeKey = cluster.slots[hashSlot(key)]?.[0];
  const node = cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
  if (node === undefined) {
    throw new StrataError('L2_UNAVAILABLE', `Redis Cluster: no master known for the slot of ${key}`, {
      details: { slot: hashSlot(key) },
    });
  }
  return node;
}

/**
 * What a Cluster needs of a name whose keys go in one multi-key command: a hash tag, so that all of
 * them land in one slot (else Redis refuses with CROSSSLOT). Throws INVALID_CONFIG naming the fix.
 */
export function requireHashTag(what: string, field: string, name: string): void {
  if (hashTag(name) !== undefined) return;
  throw new StrataError(
    'INVALID_CONFIG',
    `${what} ${JSON.stringify(name)} has no hash tag, so on a Redis Cluster its keys spread over slots ` +
      `and multi-key calls fail with CROSSSLOT. Give it one, e.g. ${JSON.stringify(`{${name}}`)}.`,
    { details: { field } },
  );
}
