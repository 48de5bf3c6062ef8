import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveConfig } from '../config.js';
import { isStrataError } from '../errors.js';
import { defaultLogger, noopLogger } from './logger.js';

afterEach(() => vi.restoreAllMocks());

describe('the default logger', () => {
  it('prints warn and error, each distinct failure once; debug and info not at all', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const debug = vi.spyOn(console, 'debug').mockImplementation(() => {});
    const info = vi.spyOn(console, 'info').mockImplementation(() => {});
    const logger = defaultLogger();
    const down = { code: 'L2_UNAVAILABLE', error: 'connect ECONNREFUSED 127.0.0.1:6379' };
    for (let i = 0; i < 3; i++) {
      logger.warn('l2 get failed; continuing without it', down);
      logger.warn('l2 set failed; continuing without it', down); // the same failure, met by another call
    }
    logger.warn('L2 was reset: dropping every cached row', { why: 'restart' });
    logger.error('write-behind: dead-lettered', { error: 'x' });
    logger.debug('d');
    logger.info('i');
    expect(warn.mock.calls).toEqual([
      ['strata warn: l2 get failed; continuing without it', down],
      ['strata warn: L2 was reset: dropping every cached row', { why: 'restart' }],
    ]);
    expect(error.mock.calls).toEqual([['strata error: write-behind: dead-lettered', { error: 'x' }]]);
    expect(debug).not.toHaveBeenCalled();
    expect(info).not.toHaveBeenCalled();
    // Per logger, so per instance: another Strata says it again.
    defaultLogger().warn('l2 get failed; continuing without it', down);
    expect(warn).toHaveBeenCalledTimes(3);
  });

  it('keeps at most 100 distinct events (a flood of distinct errors cannot grow it)', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const logger = defaultLogger();
    for (let i = 0; i < 150; i++) logger.warn('l2 get failed', { error: `e${i}` });
    expect(warn).toHaveBeenCalledTimes(100);
  });
});

describe('the logger option', () => {
  it('is the default logger when omitted, a fresh one per config', () => {
    const a = resolveConfig({}).logger;
    const b = resolveConfig({}).logger;
    expect(a).not.toBe(b);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    a.warn('m', { error: 'e' });
    b.warn('m', { error: 'e' });
    expect(warn).toHaveBeenCalledTimes(2);
  });

  it('false: nothing logged; a logger of yours replaces the default', () => {
    expect(resolveConfig({ logger: false }).logger).toBe(noopLogger);
    const mine = { debug() {}, info() {}, warn() {}, error() {} };
    expect(resolveConfig({ logger: mine }).logger).toBe(mine);
  });

  it('anything else is INVALID_CONFIG naming it', () => {
    for (const logger of [true, 'console', { warn() {} }]) {
      let caught: unknown;
      try {
        resolveConfig({ logger: logger as never });
      } catch (err) {
        caught = err;
      }
      expect(isStrataError(caught, 'INVALID_CONFIG')).toBe(true);
      expect((caught as Error).message).toMatch(/config\.logger: must implement/);
    }
  });
});
