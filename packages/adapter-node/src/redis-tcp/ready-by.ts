import { StrataError } from '@strata/core';
import { checkSendBy, type L2Script } from '@strata/core/driver';
import type { Cluster, Redis } from 'ioredis';

/**
 * A connection not back this long (ms) before the caller's deadline is refused then, not at it: the
 * refusal must reach the caller before its own deadline does (both are timers, each early by the
 * event loop's lag), else the caller sees a timeout and must treat a script that never left as
 * one that may have run (a write-behind set queued conditionally: regression-late-script.test.ts).
 * A script sent this close to the deadline would rarely have answered in time anyway.
 */
const REFUSE_BEFORE_MS = 10;

/**
 * Undefined when `client` sends at once (connected: the usual case, no promise made; throws when
 * `sendBy` has passed already); else a promise
 * that resolves once it is, or rejects with L2_UNAVAILABLE just before `sendBy` (see `L2Tier.run`): a script
 * left in ioredis' offline queue would be sent whenever the connection came back, after its caller
 * had reported it refused. Without `sendBy` (a tier called directly), ioredis queues as it does.
 */
export function readyBy(
  client: Redis | Cluster,
  tier: string,
  script: L2Script,
  sendBy: number | undefined,
): Promise<void> | undefined {
  if (sendBy === undefined || client.status === 'end') return undefined;
  if (client.status === 'ready') {
    checkSendBy(tier, script, sendBy);
    return undefined;
  }
  return new Promise<void>((resolve, reject) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(
      () => {
        client.off('ready', onReady);
        reject(
          new StrataError(
            'L2_UNAVAILABLE',
            `L2 ${tier} ${script.name}: not sent, the connection was not back (${client.status}) by its caller's deadline (nothing was run)`,
            { details: { tier, op: script.name, status: client.status, sent: false } },
          ),
        );
      },
      Math.max(0, sendBy - performance.now() - REFUSE_BEFORE_MS),
    );
    client.once('ready', onReady);
    // A lazy client connects on its first command; this one waits instead, so it asks.
    if (client.status === 'wait') client.connect().catch(() => undefined);
  });
}
