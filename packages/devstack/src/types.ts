/** A running local endpoint that can be shut down. */
export interface Stoppable {
  stop(): Promise<void>;
}

/** The Upstash-compatible REST endpoint, served over a real Redis. */
export interface UpstashEndpoint extends Stoppable {
  /** Base URL to give `new Redis({ url, token })`, e.g. `http://127.0.0.1:40123`. */
  url: string;
  token: string;
}

/** The Neon endpoints (HTTP SQL + WebSocket proxy), served over a real Postgres or PGlite. */
export interface NeonEndpoint extends Stoppable {
  /** `neonConfig.fetchEndpoint` value (a Worker's NEON_FETCH_ENDPOINT): the HTTP SQL URL, e.g. `http://127.0.0.1:40124/sql`. */
  httpUrl: string;
  /** `host:port` of the WebSocket proxy; the path is `/v2?address=host:port`. */
  wsHost: string;
  /** Connection string the Neon clients use (host is ignored by the proxy: it always dials the backing Postgres). */
  connectionString: string;
}

export type RedisSource = 'external' | 'spawned' | 'unavailable';
export type PostgresSource = 'external' | 'pglite';

/** What `startDevstack` hands back: everything a client needs, and `stop()`. Serializable apart from `stop`. */
export interface DevstackInfo {
  redis: { source: RedisSource; url?: string; reason?: string };
  postgres: { source: PostgresSource; url: string };
  upstash?: { url: string; token: string };
  neon: { httpUrl: string; wsHost: string; connectionString: string };
}

export interface Devstack extends DevstackInfo, Stoppable {}
