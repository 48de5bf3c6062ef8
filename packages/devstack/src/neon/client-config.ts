/**
 * The `neonConfig` settings that point `@neondatabase/serverless` at the local endpoints. Typed
 * structurally, so devstack needs no runtime dependency on the Neon package.
 */
interface NeonLocalConfig {
  /** The local `POST /sql` URL, whatever host the connection string names. */
  fetchEndpoint: string;
  /** `host:port/v2?address=…` of the local proxy; the proxy dials the backing Postgres regardless. */
  wsProxy: (host: string, port: number | string) => string;
  /** The proxy speaks plain `ws://`. */
  useSecureWebSocket: false;
  /** No TLS inside the tunnel: the local Postgres is plain TCP. */
  pipelineTLS: false;
  /** Pipelined connect assumes cleartext password auth and fails against trust or scram-sha-256. */
  pipelineConnect: false;
  /** Set only when asked: `Pool.query` then goes over HTTP, as `neonConfig.poolQueryViaFetch` does in the cloud. */
  poolQueryViaFetch?: boolean;
}

/**
 * Settings to `Object.assign` onto `neonConfig` so `Pool`, `Client` and `neon()` reach the local
 * endpoint. In Node 20 also set `neonConfig.webSocketConstructor = ws` (there is no global WebSocket).
 * @example
 * import { neonConfig } from '@neondatabase/serverless';
 * import ws from 'ws';
 * Object.assign(neonConfig, neonLocalConfig(endpoint), { webSocketConstructor: ws });
 */
export function neonLocalConfig(
  endpoint: { httpUrl: string; wsHost: string },
  options: { poolQueryViaFetch?: boolean } = {},
): NeonLocalConfig {
  return {
    fetchEndpoint: endpoint.httpUrl,
    wsProxy: (host, port) => `${endpoint.wsHost}/v2?address=${encodeURIComponent(`${host}:${port}`)}`,
    useSecureWebSocket: false,
    pipelineTLS: false,
    pipelineConnect: false,
    ...(options.poolQueryViaFetch !== undefined && { poolQueryViaFetch: options.poolQueryViaFetch }),
  };
}
