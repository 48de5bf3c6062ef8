/** `strata --help`. */
export const USAGE = `Usage: strata <command> [options]

Commands:
  migrate                     create or extend the tables of the configured schemas
  migrate-from <dir>          apply the NNN_description.sql files of <dir> not applied yet
  status                      list the migrations applied (_strata_migrations)
  warm <schema> [--limit N]   load rows of <schema> from Postgres into the caches
  stats                       row counts per schema and this instance's counters, as JSON
  invalidate <schema> [id]    drop one cached row, or every cached row of <schema>, everywhere
  capture install|remove|check
                              the triggers that log writes made outside Strata (change capture);
                              check exits 1 when any is missing
  relay [--interval <duration>] [--once]
                              relay the change log into every instance's caches until SIGINT or
                              SIGTERM (LISTEN for wake-ups, the interval for catch-up); a line
                              per pass that applied changes, hit a gap or failed; --once: one
                              pass, exit 1 if it failed (for cron)

Options:
  -c, --config <file>   config module whose default export is { schemas, ...createStrata options }
                        (default: the one of ./strata.config.ts, .mts, .mjs, .js present;
                        TypeScript is compiled with esbuild, which must be installed)
      --limit <N>       warm at most N rows
      --interval <d>    relay: read the change log at least this often (500ms, 2s, 1m;
                        default: the config's capture.relay interval, else 1s)
      --once            relay: one pass, then exit
      --json            status and capture check as JSON; relay prints JSON lines
  -v, --verbose         print stacks and causes of errors
  -h, --help            show this help

Environment (the config file's own fields win):
  DATABASE_URL                                         Postgres (required)
  REDIS_URL  or  UPSTASH_REDIS_REST_URL + _TOKEN       Redis for L2 and invalidation (warm,
                                                       invalidate and relay need it; so does every
                                                       command when a schema is write-behind)
  STRATA_ENCRYPTION_KEY                                the app's key, when a schema has encrypted
                                                       fields (what the Workers binding holds)

Exit codes: 0 ok, 1 failure, 2 usage error.
`;
