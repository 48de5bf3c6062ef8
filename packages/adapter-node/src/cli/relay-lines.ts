import type { PollOutcome } from '@strata/core';

/** One event of `strata relay`: it started, a pass did something, it stopped. */
export type RelayEvent =
  | { event: 'start'; intervalMs: number; listen: boolean; source: string; keyPrefix: string }
  | {
      event: 'pass';
      status: PollOutcome['status'];
      changes: number;
      gap: boolean;
      lagMs: number;
      error?: string;
    }
  | { event: 'stop'; signal: string; passes: number; changes: number; gaps: number; errors: number };

/** A pass worth a line in the long-running relay: it applied something, hit a gap, or failed. */
export function worthALine(outcome: PollOutcome): boolean {
  if (outcome.status === 'failed' || outcome.status === 'not-installed') return true;
  return outcome.status === 'applied' && (outcome.changes > 0 || outcome.gap);
}

/** The event of a pass; `lagMs` is `stats().capture.relay.lagMs` after it. */
export function passEvent(outcome: PollOutcome, lagMs: number): RelayEvent {
  const applied = outcome.status === 'applied';
  const base = {
    event: 'pass' as const,
    status: outcome.status,
    changes: applied ? outcome.changes : 0,
    gap: applied ? outcome.gap : false,
    lagMs,
  };
  if (outcome.status !== 'failed') return base;
  return { ...base, error: errorMessage(outcome.error) };
}

/** An error's message without Strata's `strata: ` prefix (the line or the CLI adds its own). */
export function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/^strata: /, '');
}

/** Writes events as lines: JSON (one object a line, with `at`) or text for a person or a log. */
export function relayLines(out: (text: string) => void, json: boolean): (event: RelayEvent) => void {
  return (event) => {
    const at = new Date().toISOString();
    out(json ? `${JSON.stringify({ at, ...event })}\n` : `${at} ${text(event)}\n`);
  };
}

function text(e: RelayEvent): string {
  switch (e.event) {
    case 'start':
      return `relay started: every ${e.intervalMs} ms, listen ${e.listen ? 'on' : 'off'}, change log of ${e.source}, keyPrefix ${e.keyPrefix}`;
    case 'stop':
      return `relay stopped on ${e.signal}: ${e.passes} pass(es), ${e.changes} change(s) applied, ${e.gaps} gap(s), ${e.errors} error(s)`;
    case 'pass': {
      if (e.status === 'failed') return `pass failed: ${e.error}`;
      if (e.status === 'busy') return 'pass skipped: another relay holds the lease';
      if (e.status === 'not-installed')
        return 'pass skipped: change capture is not installed (strata capture install); polling until it is';
      const gap = e.gap ? 'gap (every cached row dropped), ' : '';
      return `pass: ${gap}${e.changes} change(s) applied, lag ${e.lagMs} ms`;
    }
  }
}
