import { createHash } from 'node:crypto';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { sendEvalsha } from '../src/redis-tcp/evalsha-command.js';

// sendEvalsha builds the EVALSHA itself (no rest array, no flat copy); it must send what
// `redis.evalsha` sends, and keep ioredis' key prefixing where a client asks for it.

const { redisUrl } = serviceUrls();
const prefix = `${uniqueName('evalsha')}:`;
// Replies with its KEYS then ARGV, so what was sent can be compared; 'fail' as ARGV[1] raises.
const ECHO = `if ARGV[1] == 'fail' then return redis.error_reply('ECHOFAIL asked to') end
local out = {}
for i = 1, #KEYS do out[#out + 1] = KEYS[i] end
out[#out + 1] = '|'
for i = 1, #ARGV do out[#out + 1] = ARGV[i] end
return out`;
const sha = createHash('sha1').update(ECHO).digest('hex');
const clients: Redis[] = [];
const client = async (options: RedisOptions = {}) => {
  const redis = new Redis(redisUrl, { protocol: 2, ...options });
  clients.push(redis);
  await redis.script('LOAD', ECHO);
  return redis;
};

afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
});

describe('sendEvalsha', () => {
  it('sends the keys and arguments redis.evalsha sends, and replies the same', async () => {
    const redis = await client();
    const keys = [`${prefix}a`, `${prefix}b`];
    const args = ['1', '', 'é ✓', '{"x":"y\\n"}'];
    const sent = await sendEvalsha(redis, sha, keys, args);
    expect(sent).toEqual([...keys, '|', ...args]);
    expect(sent).toEqual(await redis.evalsha(sha, keys.length, ...keys, ...args));
    expect(await sendEvalsha(redis, sha, [], [])).toEqual(['|']);
  });

  it('rejects with the script error as redis.evalsha does, and NOSCRIPT for an unknown script', async () => {
    const redis = await client();
    await expect(sendEvalsha(redis, sha, [], ['fail'])).rejects.toThrow(/^ECHOFAIL asked to/);
    await expect(sendEvalsha(redis, '0'.repeat(40), [], [])).rejects.toThrow(/^NOSCRIPT/);
  });

  it("keeps a client's keyPrefix on the keys (and only the keys)", async () => {
    const redis = await client({ keyPrefix: `${prefix}p:` });
    expect(await sendEvalsha(redis, sha, ['k'], ['v'])).toEqual([`${prefix}p:k`, '|', 'v']);
  });
});
