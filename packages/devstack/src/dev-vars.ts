import { serviceAddress } from './start.js';
import type { DevstackInfo } from './types.js';

/**
 * The bindings a Worker (or `createStrata(process.env)`) needs to run on this devstack, as a
 * `.dev.vars` file: `wrangler dev` reads it next to `wrangler.toml`, and the lines also work as
 * environment variables. The names are the ones `@strata/adapter-workers` reads. Lines starting
 * with `#` are comments.
 * @example
 * writeFileSync('.dev.vars', devVars(await startDevstack()));
 * // UPSTASH_REDIS_REST_URL=http://127.0.0.1:40123
 * // UPSTASH_REDIS_REST_TOKEN=…
 * // DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test
 * // NEON_FETCH_ENDPOINT=http://127.0.0.1:40124/sql
 */
export function devVars(info: DevstackInfo): string {
  const { postgres, redis, upstash, neon } = info;
  const lines = [
    `# strata-devstack: Postgres ${postgres.source} (${serviceAddress(postgres.url)}), Redis ${redis.source}`,
    '# A .dev.vars file for wrangler dev (or environment variables for Node):',
    ...(upstash
      ? [`UPSTASH_REDIS_REST_URL=${upstash.url}`, `UPSTASH_REDIS_REST_TOKEN=${upstash.token}`]
      : [`# no UPSTASH_REDIS_REST_URL/_TOKEN: ${redis.reason ?? 'no Redis'}`]),
    `DATABASE_URL=${neon.connectionString}`,
    `NEON_FETCH_ENDPOINT=${neon.httpUrl}`,
    `# Neon WebSocket proxy (Pool, Client): ws://${neon.wsHost}/v2, set up by neonLocalConfig()`,
  ];
  return `${lines.join('\n')}\n`;
}
