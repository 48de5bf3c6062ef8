import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { uniqueName } from '../src/defaults.js';
import { createScratchDatabase, type ScratchDatabase } from '../src/scratch-database.js';
import { sweepScratchDatabases } from '../src/scratch-sweep.js';

/**
 * What keeps the workerd projects of this run apart from every other suite and run sharing the
 * machine's Postgres and Redis: a database of their own each (the demo's tables, drizzle-kit's
 * diff and Strata's `_strata_*` tables live there; a node suite in parallel never sees them), and a
 * Redis key prefix for the write-behind consumer that the `workers` project's Worker builds.
 */
export interface WorkerdIsolation {
  /** Project name -> database name, on the devstack's Postgres. Empty on PGlite: that one is this run's alone. */
  databases: Record<string, string>;
  /** Key root of the `workers` project's write-behind consumer; its keys are deleted at the end. */
  wbConsumerPrefix: string;
  /**
   * The `workers-demo` Worker's STRATA_KEY_PREFIX; its keys are deleted at the end (the demo's
   * background work, the relay's cursor and ticks, writes some after its test files' cleanup).
   */
  demoKeyPrefix: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    workerdIsolation: WorkerdIsolation;
  }
}

/** The projects whose Workers get a database of their own (root vitest.config.ts). */
const WORKERD_PROJECTS = ['workers', 'workers-demo'];

/**
 * Root global setup, after the devstack's (it reads the devstack it provided): creates one scratch
 * database per selected workerd project, drops them and deletes the consumer's keys at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stack = project.getProvidedContext().devstack;
  const selected = project.vitest.projects
    .map((p) => p.name)
    .filter((name) => WORKERD_PROJECTS.includes(name));
  const created: ScratchDatabase[] = [];
  const databases: Record<string, string> = {};
  if (stack.postgres.source === 'external') {
    // What runs interrupted before their teardown left (Ctrl-C): theirs by mark, host and dead pid.
    const swept = await sweepScratchDatabases(stack.postgres.url);
    if (swept.length > 0)
      console.log(`workerd isolation: dropped ${swept.length} scratch database(s) of dead runs`);
    for (const name of selected) {
      const database = await createScratchDatabase(name, stack.postgres.url);
      created.push(database);
      databases[name] = database.name;
    }
  }
  const wbConsumerPrefix = uniqueName('wb_consumer');
  const demoKeyPrefix = uniqueName('demo_test');
  project.provide('workerdIsolation', { databases, wbConsumerPrefix, demoKeyPrefix });

  return async () => {
    for (const database of created) await database.drop();
    if (stack.redis.url) {
      await deleteKeys(stack.redis.url, `${wbConsumerPrefix}:*`);
      await deleteKeys(stack.redis.url, `${demoKeyPrefix}:*`);
    }
  };
}

async function deleteKeys(redisUrl: string, match: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
