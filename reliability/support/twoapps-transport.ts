import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import type { InvalidationBus, L2Tier } from '@strata/core';
import { createUpstashL2, createUpstashLogBus, createUpstashSseBus } from '@strata/core/upstash';
import { startUpstashServer, type UpstashEndpoint } from '@strata/devstack';
import type { Redis } from 'ioredis';

// How the instances of reliability/test/model-two-apps.test.ts reach Redis for L2 and the bus: over
// TCP (ioredis, pub/sub), or over Upstash's REST protocol served by the devstack over the SAME AOF
// Redis (its restarts and data losses reach the HTTP clients too), with the SSE bus (pub/sub) or
// the log bus (a stream, polled). The write-behind queue stays on TCP (no Upstash queue here).

export type Transport = 'tcp' | 'upstash-sse' | 'upstash-log';

export interface Link {
  l2(tcp: Redis): L2Tier;
  bus(pub: Redis, channel: string): InvalidationBus;
  /** The log bus is polled: how often (ms); undefined for pushed buses. */
  readonly pollInterval: number | undefined;
  stop(): Promise<void>;
}

export async function linkOf(transport: Transport, redisUrl: string): Promise<Link> {
  if (transport === 'tcp')
    return {
      l2: (tcp) => createIoredisL2(tcp),
      bus: (pub, channel) => createRedisPubSubBus({ redis: pub, channel }),
      pollInterval: undefined,
      stop: async () => {},
    };
  const endpoint: UpstashEndpoint = await startUpstashServer({ redisUrl, token: 't_twoapps2_token' });
  const rest = { url: endpoint.url, token: endpoint.token };
  return {
    l2: () => createUpstashL2({ ...rest, retry: false } as never),
    bus: (_pub, channel) =>
      transport === 'upstash-sse'
        ? createUpstashSseBus({ ...rest, channel, reconnectDelayMs: { min: 10, max: 200 } })
        : createUpstashLogBus({ ...rest, stream: `${channel}:log` }),
    pollInterval: transport === 'upstash-log' ? 50 : undefined,
    stop: () => endpoint.stop(),
  };
}
