import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import type { LedgerEntry } from './ledger.js';
import { summarize } from './summary.js';

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** Gives the reliability tests a ledger file, then prints the summary of what they recorded. */
export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'strata-reliability-'));
  project.provide('reliabilityLedger', dir);
  return () => {
    let lines: string[] = [];
    try {
      lines = readFileSync(join(dir, 'ledger.jsonl'), 'utf8').split('\n').filter(Boolean);
    } catch {
      // No test recorded anything (the project was filtered out): nothing to print.
    }
    rmSync(dir, { recursive: true, force: true });
    if (lines.length === 0) return;
    const entries = lines.map((l) => JSON.parse(l) as LedgerEntry);
    const table = summarize(entries);
    console.log(`\nReliability summary\n${table}`);
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'latest.md'), `${table}\n`);
    // `npm run docs` renders docs/reliability.md from this (scripts/docs.mjs).
    const run = { date: new Date().toISOString(), table, entries };
    writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify(run, null, 2)}\n`);
  };
}
