import type { Tier } from './metrics.js';
import type { Tracer, TraceSpan } from './tracing.js';

/**
 * What a read operation's span learns while it runs, from what happens under it (its tier calls,
 * the engine's misses) rather than from the read path itself: `depth` is the lowest tier reached.
 */
interface ReadNote {
  depth: number;
  /** A tier missed with no tier below it: no cache answered. */
  unanswered: boolean;
  stale: boolean;
}

const TIERS: readonly Tier[] = ['l1', 'l2', 'l3'];
const DEPTH: Readonly<Record<Tier, number>> = { l1: 0, l2: 1, l3: 2 };
/** Keyed by the span: the Tracer seam hands back the span it made, never anything of Strata's. */
const notes = new WeakMap<TraceSpan, ReadNote>();

/** The span is a read's: what happens under it until `endRead` says which tier answered. */
export function beginRead(span: TraceSpan): void {
  notes.set(span, { depth: 0, unanswered: false, stale: false });
}

/**
 * Sets `strata.tier` (the lowest tier the read reached: for a batch, the lowest any id needed),
 * `strata.hit` (a cache tier answered every id) and `strata.stale`. A read that made no remote
 * call was answered by L1. One that joined a load another read started reports the tier below L1.
 */
export function endRead(span: TraceSpan): void {
  const note = notes.get(span);
  if (!note) return;
  span.setAttribute('strata.tier', TIERS[note.depth]!);
  span.setAttribute('strata.hit', note.depth < DEPTH.l3 && !note.unanswered);
  span.setAttribute('strata.stale', note.stale);
}

function current(tracer: Tracer): ReadNote | undefined {
  const span = tracer.currentOperation();
  return span && notes.get(span);
}

/** The current read reached `tier` (a call to it, or a miss above it). */
export function noteTier(tracer: Tracer, tier: Tier): void {
  const note = current(tracer);
  if (note && DEPTH[tier] > note.depth) note.depth = DEPTH[tier];
}

/** The current read missed `tier`, below which `next` is asked (none: no cache has the row). */
export function noteMiss(tracer: Tracer, next: Tier | undefined): void {
  if (next) noteTier(tracer, next);
  else {
    const note = current(tracer);
    if (note) note.unanswered = true;
  }
}

/** The current read answered with a row past its freshness (stale-while-revalidate). */
export function noteStale(tracer: Tracer): void {
  const note = current(tracer);
  if (note) note.stale = true;
}
