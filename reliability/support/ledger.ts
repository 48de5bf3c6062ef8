import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

/** One category's tally: what was injected and tried, and what came out. Every field adds up. */
export interface LedgerEntry {
  /** `faults`, `crash`, `races`, `hostile-input`, `secrets`, `key-rotation`, `deployments`. */
  category: string;
  /** What the test did, e.g. `redis stopped mid-load`. */
  scenario: string;
  faultsInjected?: number;
  operations?: number;
  /** Writes a caller saw succeed. */
  writesAcknowledged?: number;
  /** Of those, how many were found afterwards (must equal writesAcknowledged). */
  writesFound?: number;
  inputsTried?: number;
  /** Calls that did not settle within their deadline (must be 0). */
  hangs?: number;
  unhandledRejections?: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    reliabilityLedger: string;
  }
}

/**
 * Adds a tally to this run's ledger; the reliability project's global teardown sums and prints
 * them (and writes reliability/results/latest.md).
 * @example
 * record({ category: 'crash', scenario: 'kill -9 under load', writesAcknowledged: 400, writesFound: 400 });
 */
export function record(entry: LedgerEntry): void {
  appendFileSync(join(inject('reliabilityLedger'), 'ledger.jsonl'), `${JSON.stringify(entry)}\n`);
}
