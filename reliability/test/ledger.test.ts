import { describe, expect, it } from 'vitest';
import { summarize } from '../support/summary.js';

describe('reliability summary', () => {
  it('sums per category and counts lost writes', () => {
    const table = summarize([
      { category: 'crash', scenario: 'a', writesAcknowledged: 10, writesFound: 10 },
      { category: 'crash', scenario: 'b', writesAcknowledged: 5, writesFound: 4, hangs: 1 },
      { category: 'faults', scenario: 'c', faultsInjected: 3, operations: 7 },
    ]);
    expect(table).toContain('| crash | 2 | 0 | 0 | 15 | 14 | 0 | 1 | 0 |');
    expect(table).toContain('| faults | 1 | 3 | 7 | 0 | 0 | 0 | 0 | 0 |');
    expect(table).toContain('Acknowledged writes lost: 1. Hangs: 1.');
  });
});
