import { StrataError } from '@strata/core';
import type fc from 'fast-check';
import type { DeploymentReal } from './deployment-commands.js';
import { within } from './deployment-faults.js';
import type { RedisLink } from './deployment-link.js';
import type { DeploymentModel } from './deployment-model.js';
import { view } from './deployment-stack.js';

// The `redis-link` class (deployment-faults.ts): A2's Redis connections go through a TCP proxy the
// commands below cut. Kept apart from deployment-commands.ts: the other commands never touch it.

type Cmd = fc.AsyncCommand<DeploymentModel, DeploymentReal>;

const now = () => performance.now();
const CALL_MS = 15_000;
/** A2's connections back after a cut: a held reconnect attempt plus slack. */
const LINK_BACK_MS = 10_000;

const linkOf = (r: DeploymentReal): RedisLink => {
  if (!r.dep.link) throw new Error('redis-link commands need the deployment started with the class');
  return r.dep.link;
};

const createdAtOf = (row: unknown): number | undefined =>
  row && typeof row === 'object' ? (view(row as Record<string, unknown>)?.createdAt ?? undefined) : undefined;

/** Waits until the bus of A2 has subscribed again (it counts a gap) and its clients are ready. */
async function linkBack(r: DeploymentReal, link: RedisLink, gapsBefore: number): Promise<void> {
  await link.ready(LINK_BACK_MS);
  const a2 = r.dep.instances.A2.strata;
  const deadline = now() + LINK_BACK_MS;
  // No event tells when the bus resubscribed: bounded polling of its gap counter.
  while (a2.stats().busGaps <= gapsBefore) {
    if (now() > deadline) throw new Error("after the link cut, A2's bus never subscribed again");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A2's link to Redis is cut and reconnects refused; A2 deletes `key` (refused: L2_UNAVAILABLE, the
 * script may sit in ioredis' offline queue); A1 sets the same key (acknowledged); the link comes
 * back and A2's connections are ready. A2's write must not land over A1's (commit 4e60111).
 */
export class LinkCutCmd implements Cmd {
  constructor(readonly key: number) {}
  check = (m: Readonly<DeploymentModel>) => m.linkCuts < 1;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const key = m.keys.a[this.key]!;
    const a2 = r.dep.instances.A2;
    // A delete: a set first reads the key's pending row (autoNowAdd), and that read, not the
    // script, is what would wait out the L2 timeout; a delete sends its script at once.
    await refusedThenSet(m, r, `${this}`, [key], () => a2.strata.delete(a2.schema, key));
  }
  toString = () => `linkCut(A2 cut, A2 delete refused, A1 set, k${this.key})`;
}

/**
 * A2's link to Redis is cut and reconnects refused; A2 deletes `keys` (`a2Delete`: refused with
 * L2_UNAVAILABLE, the script may sit in ioredis' offline queue); A1 sets the first key
 * (acknowledged); the link comes back and A2's connections are ready. A2's deletes must not land
 * over A1's set (commit 4e60111).
 */
export async function refusedThenSet(
  m: DeploymentModel,
  r: DeploymentReal,
  what: string,
  keys: readonly string[],
  a2Delete: () => Promise<unknown>,
): Promise<void> {
  const link = linkOf(r);
  const a1 = r.dep.instances.A1;
  const a2 = r.dep.instances.A2;
  const t = m.tenants.a;
  const gapsBefore = a2.strata.stats().busGaps;
  const seen = link.reconnecting();
  link.cut();
  try {
    await within(seen, 5_000, `${what}: A2's clients seeing the cut`);
    const outcome = await within(
      a2Delete().then(
        () => ({ ok: true as const }),
        (err: unknown) => ({ ok: false as const, err }),
      ),
      CALL_MS,
      `${what}: A2's delete`,
    );
    if (outcome.ok) {
      // Acknowledged without Redis (a mode that tolerates it): an ordinary write.
      for (const key of keys) t.wrote('A2', key, [{ level: null }], now(), !m.queues('A2'), `${what}: A2`);
      m.writesAcknowledged += keys.length;
    } else {
      const code = outcome.err instanceof StrataError ? outcome.err.code : String(outcome.err);
      if (code !== 'L2_UNAVAILABLE') throw outcome.err;
      for (const key of keys) t.maybeWrote(key, null, null, now(), `${what}: A2 refused`);
    }
    const n = m.nextLevel++;
    const stored = await within(
      a1.strata.set(a1.schema, { id: keys[0]!, n, tenant: 'a', note: `note-${n}` } as never),
      CALL_MS,
      `${what}: A1's set`,
    );
    t.wrote(
      'A1',
      keys[0]!,
      [{ level: n, note: `note-${n}`, createdAt: createdAtOf(stored) }],
      now(),
      !m.queues('A1'),
      `${what}: A1`,
    );
    m.writesAcknowledged += 1;
  } finally {
    link.heal();
  }
  await linkBack(r, link, gapsBefore);
  m.linkCuts += 1;
  m.operations += 2;
  m.faultsInjected += 1;
}

/** XREADGROUP of new entries (`>`): the take that hands out what no consumer had yet. */
const isNewEntriesTake = (chunk: Buffer) => {
  const text = chunk.toString('latin1');
  return /XREADGROUP/i.test(text) && text.includes('\r\n>\r\n');
};

/**
 * A2 flushes; the reply to its take of new entries is lost with its connection (the entries are
 * now pending for A2's consumer). Once A2 is reconnected, A2 flushes again: every queued write
 * must reach Postgres once (the take reads its consumer's own pending entries first, commit 1c2ff41).
 */
export class LinkCutFlushCmd implements Cmd {
  check = (m: Readonly<DeploymentModel>) => m.linkCuts < 1;
  async run(m: DeploymentModel, r: DeploymentReal) {
    const link = linkOf(r);
    const a2 = r.dep.instances.A2;
    let fired = false;
    // A flush that takes nothing new (no XREADGROUP `>`) leaves the trap armed: a later take's reply
    // is then the one lost, which this class allows as well (no command reads the proxy's traps).
    void link.proxy.trap({ direction: 'up', match: isNewEntriesTake, action: 'cut-on-reply' }).then(() => {
      fired = true;
    });
    const first = await within(
      a2.strata.flushDirty().then(
        () => 'ok' as const,
        () => 'failed' as const,
      ),
      CALL_MS,
      `${this}: A2's first flush`,
    );
    if (fired) {
      await link.ready(LINK_BACK_MS);
      await within(a2.strata.flushDirty(), CALL_MS, `${this}: A2's flush after the cut`);
      m.tenants.a.flushed(now());
      m.faultsInjected += 1;
    } else if (first === 'ok') {
      m.tenants.a.flushed(now());
    } else {
      throw new Error(`${this}: A2's flush failed without the cut`);
    }
    m.linkCuts += 1;
    m.operations += 1;
  }
  toString = () => "linkCutFlush(A2 flush, its take's reply lost, A2 flushes again)";
}
