// Placeholder until the input-limits branch lands (it owns this file).
import { sqlState } from '../engine/context.js';

const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58', 'XX', '25']);

export function isTransientPgError(err: unknown): boolean {
  const state = sqlState(err);
  if (state === undefined) return true;
  return state === '55P03' || TRANSIENT_CLASSES.has(state.slice(0, 2));
}
