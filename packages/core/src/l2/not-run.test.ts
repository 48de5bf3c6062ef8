import { describe, expect, it } from 'vitest';
import { StrataError } from '../errors.js';
import { notRun } from './not-run.js';

const named = (name: string, message: string) => Object.assign(new Error(message), { name });
const coded = (code: string) => Object.assign(new Error(code), { code });
const wrapped = (cause: unknown) =>
  new StrataError('L2_UNAVAILABLE', 'L2 ioredis put failed', { cause, details: { reason: 'error' } });

describe('notRun: whether an L2 failure says its command never ran', () => {
  it('known before sending: a refusal to send, the breaker, no connection, Redis refusing it', () => {
    for (const err of [
      new StrataError('L2_UNAVAILABLE', 'not sent', { details: { sent: false } }),
      new StrataError('L2_UNAVAILABLE', 'open', { details: { reason: 'breaker-open' } }),
      wrapped(new TypeError('fetch failed', { cause: coded('ECONNREFUSED') })),
      wrapped(named('ReplyError', 'READONLY You cannot write against a read only replica.')),
      wrapped(named('UpstashError', 'NOAUTH Authentication required., command was: ["evalsha"]')),
      wrapped(
        new Error('unreachable', {
          cause: new StrataError('L2_UNAVAILABLE', 'x', { details: { sent: false } }),
        }),
      ),
    ])
      expect(notRun(err)).toBe(true);
  });

  it('maybe after Redis ran it: a timeout, a cut or reset link, a lost reply, a 5xx, a script error', () => {
    for (const err of [
      new StrataError('L2_UNAVAILABLE', 'timed out', { details: { reason: 'timeout' } }),
      wrapped(new Error('Connection is closed.')),
      wrapped(coded('ECONNRESET')),
      wrapped(new TypeError('fetch failed', { cause: named('SocketError', 'other side closed') })),
      wrapped(named('UpstashJSONParseError', 'Bad Gateway')),
      wrapped(named('ReplyError', 'ERR user_script:12: WRONGTYPE Operation against a key')),
      wrapped(named('Error', 'READONLY not a reply')),
      'a string',
    ])
      expect(notRun(err)).toBe(false);
  });
});
