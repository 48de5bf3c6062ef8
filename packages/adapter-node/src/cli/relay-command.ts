import { changeRelay, type PollOutcome, type Strata, strataDefaults } from '@strata/core';
import { redactUrl } from '@strata/core/driver';
import { isPostgresUrl, relayPlan } from '../connect/capture-options.js';
import type { CreateStrataOptions } from '../create-strata.js';
import type { Invocation } from './args.js';
import { CliFailure } from './cli-errors.js';
import { errorMessage, passEvent, relayLines, worthALine } from './relay-lines.js';
import { type RelayWatch, watchRelay } from './relay-watch.js';

/** What `strata relay` wires before it connects: the relay (watched) and LISTEN. */
export interface PreparedRelay {
  readonly options: CreateStrataOptions;
  readonly watch: RelayWatch;
  readonly intervalMs: number;
  readonly listen: boolean;
}

/** The context the relay runs in (a subset of the other commands'). */
export interface RelayContext {
  node: { strata: Strata; shutdown(): Promise<void> };
  invocation: Invocation;
  out: (text: string) => void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * createStrata options with the relay on: `--interval` over the config's own interval, the
 * config's retention kept. LISTEN is on for a postgres:// URL unless the config turns it off, and
 * off for `--once` (one pass needs no wake-up).
 */
export function prepareRelay(options: CreateStrataOptions, invocation: Invocation): PreparedRelay {
  const configured = relayPlan(options.capture?.relay);
  const plan = changeRelay({
    interval: invocation.intervalMs ?? configured?.intervalMs,
    retention: configured?.retentionMs,
  });
  const listen = !invocation.once && (options.capture?.listen ?? isPostgresUrl(options.databaseUrl));
  const watch: RelayWatch = { onOutcome: () => {} };
  return {
    options: { ...options, capture: { ...options.capture, relay: watchRelay(plan, watch), listen } },
    watch,
    intervalMs: plan.intervalMs,
    listen,
  };
}

/**
 * `strata relay`: relays the change log into every instance's caches until SIGINT or SIGTERM
 * (then closes everything and returns), printing a line when it starts, per pass that applied
 * something, hit a gap or failed, and when it stops. `--once`: one pass; a failed one throws.
 */
export async function runRelay(ctx: RelayContext, prepared: PreparedRelay): Promise<void> {
  const { node, invocation, out } = ctx;
  const line = relayLines(out, invocation.json);
  const lag = (): number => node.strata.stats().capture.relay?.lagMs ?? -1;
  if (invocation.once) {
    const outcome = await node.strata.relayChanges();
    if (outcome === undefined) throw new CliFailure('relay: the relay is off'); // prepareRelay turns it on
    line(passEvent(outcome, lag()));
    if (outcome.status === 'failed') {
      throw new CliFailure(`relay: the pass failed: ${errorMessage(outcome.error)}`, {
        cause: outcome.error,
      });
    }
    if (outcome.status === 'not-installed')
      throw new CliFailure('relay: change capture is not installed: run strata capture install');
    return;
  }
  const options = prepared.options;
  line({
    event: 'start',
    intervalMs: prepared.intervalMs,
    listen: prepared.listen,
    source: `${redactUrl(options.databaseUrl)}${options.migrationsSchema ? ` (schema ${options.migrationsSchema})` : ''}`,
    keyPrefix: options.keyPrefix ?? strataDefaults.keyPrefix,
  });
  let resolveSignal!: (signal: NodeJS.Signals) => void;
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    resolveSignal = resolve;
  });
  // Stays on until the end: a second signal while the connections close must not kill the process.
  for (const signal of SIGNALS) process.on(signal, resolveSignal);
  try {
    let last: PollOutcome['status'] | undefined;
    prepared.watch.onOutcome = (outcome) => {
      // Not installed lasts until someone installs: one line when it starts, not one per pass.
      const repeated = outcome.status === 'not-installed' && last === 'not-installed';
      last = outcome.status;
      if (worthALine(outcome) && !repeated) line(passEvent(outcome, lag()));
    };
    // At once rather than an interval from now (the LISTEN session also reads once it listens).
    await node.strata.relayChanges();
    const signal = await stopped;
    await node.shutdown();
    prepared.watch.onOutcome = () => {};
    const stats = node.strata.stats().capture.relay;
    line({
      event: 'stop',
      signal,
      passes: stats?.polls ?? 0,
      changes: stats?.changes ?? 0,
      gaps: stats?.gaps ?? 0,
      errors: stats?.errors ?? 0,
    });
  } finally {
    for (const signal of SIGNALS) process.off(signal, resolveSignal);
  }
}
