import type { PollOutcome } from '@strata/core';
import type { RelayPlan } from '@strata/core/driver';

type Relay = ReturnType<RelayPlan['create']>;

/** What a watched relay reports to: each pass's outcome, once per pass. */
export interface RelayWatch {
  onOutcome: (outcome: PollOutcome) => void;
}

/**
 * The plan, with every poll of the relay it creates reported to `watch`, whoever started it (the
 * LISTEN wake-up, the interval timer, `relayChanges()`), so the `strata relay` command can print a
 * line per pass without the engine knowing about it. Concurrent callers share one poll: it is
 * reported once.
 */
export function watchRelay(plan: RelayPlan, watch: RelayWatch): RelayPlan {
  return {
    intervalMs: plan.intervalMs,
    retentionMs: plan.retentionMs,
    create: (parts) => observe(plan.create(parts), watch),
  };
}

function observe(relay: Relay, watch: RelayWatch): Relay {
  const reported = new WeakSet<Promise<PollOutcome>>();
  const poll = (force?: boolean): Promise<PollOutcome> => {
    const pass = relay.poll(force);
    if (!reported.has(pass)) {
      reported.add(pass);
      // Looked up when the pass ends, not now: the watcher may have changed its mind meanwhile.
      // A poll never rejects; a failure to print is the watcher's own and must not go unnoticed.
      void pass
        .then((outcome) => watch.onOutcome(outcome))
        .catch((error: unknown) => {
          process.stderr.write(`strata: relay: could not report a pass: ${String(error)}\n`);
        });
    }
    return pass;
  };
  return new Proxy(relay, {
    get(target, property) {
      if (property === 'poll') return poll;
      const value: unknown = Reflect.get(target, property, target);
      // Bound to the relay itself: its methods use private fields, which a proxy receiver lacks.
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
