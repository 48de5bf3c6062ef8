export type Tier = 'l1' | 'l2' | 'l3';

/**
 * Metrics seam (MetricsRecorder in the Go library Strata), shaped so OpenTelemetry or Prometheus
 * adapters are a few lines: counters and latency observations with a schema label.
 * @example
 * const metrics: MetricsRecorder = {
 *   count: (name, labels, value = 1) => counter.add(value, { name, ...labels }),
 *   observe: (name, ms, labels) => histogram.record(ms, { name, ...labels }),
 * };
 * new Strata({ l3, metrics });
 */
export interface MetricsRecorder {
  /** e.g. `hit` / `miss` per tier, `error`, `rejected` (input Postgres refused), `set`, `delete`. */
  count(name: string, labels: { schema: string; tier?: Tier; op?: string }, value?: number): void;
  /**
   * Duration of one remote call in milliseconds (`name` is `latency`), labelled by tier and tier
   * method (`getMany`, `findMany`, …). Tier calls may serve several schemas, so no schema label.
   */
  observe(name: string, ms: number, labels: { tier: Tier; op: string; schema?: string }): void;
}

export const noopMetrics: MetricsRecorder = { count() {}, observe() {} };
