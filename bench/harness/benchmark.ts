/**
 * The contract between the benchmark harness (bench/run.ts) and the benchmarks (bench/figures/*).
 *
 * A benchmark measures one or more figures together with the baselines they are compared with,
 * in the same run on the same machine: a figure is only ever judged as a ratio against a baseline
 * measured minutes earlier (the machines are shared and noisy), or against a physical bound such
 * as a latency or a memory ceiling.
 */

/**
 * full: the sizes the targets are written for (1,000,000 events, 20,000 recipients, 10 s loads);
 * quick: the same figures at about a tenth of the size, for small machines;
 * smoke: tiny sizes and sub-second loads, only to keep the harness from rotting (tests/bench).
 */
export type BenchMode = 'smoke' | 'quick' | 'full'

/**
 * Baselines measured once per run and shared by every figure that compares with them. Each lives
 * in bench/baselines/<name>.ts, which exports `measureBaseline(ctx): Promise<BaselineResult>`.
 */
export type BaselineName =
  | 'bareFastify' // bare Fastify returning a constant JSON: requests/s (autocannon, 50 connections)
  | 'fastifyPgSelect' // Fastify doing one indexed SELECT of 20 rows with pg: requests/s
  | 'rawInsert' // raw single-row INSERTs, 10 clients: rows/s
  | 'handWrittenProjection' // read 1,000 events a page, aggregate in memory, one upsert + checkpoint per transaction: events/s
  | 'bullmqNoop' // BullMQ no-op jobs, a worker of concurrency 50: jobs/s
  | 'emmettAppend' // the peer: emmett-postgresql appendToStream, 10 writers, 1 event per append: events/s

export interface BaselineResult {
  name: string
  value: number
  unit: string
  details?: Record<string, unknown>
}

/** What the harness hands every benchmark. */
export interface BenchContext {
  mode: BenchMode
  /** a maintenance connection string of the PostgreSQL server (create databases from it) */
  postgresUrl: string
  /** the Redis the benchmarks use (key prefixes are theirs to choose and remove) */
  redisUrl: string
  /** progress lines for the terminal; the harness prefixes them with the benchmark's name */
  log(line: string): void
  /** the generated event history (bench/dataset), built once per run and shared, on first ask */
  dataset(): Promise<BenchDataset>
  /** a baseline, measured on first ask and shared for the rest of the run */
  baseline(name: BaselineName): Promise<BaselineResult>
  /** register clean-up work (drop a database, stop a server); the harness runs it even on failure */
  onCleanup(task: () => Promise<void>): void
}

/** The database that holds the generated history, its projections caught up. */
export interface BenchDataset {
  databaseUrl: string
  events: number
  tenants: number
  /** the tenant holding a quarter of the events, with a user who can call its API */
  largestTenant: { tenantId: string; email: string; password: string }
}

/** One check of a figure against its target. */
export interface TargetCheck {
  /** how the target reads in the table, e.g. "≥ 0.5 × bare Fastify" or "p99 ≤ 10 ms" */
  target: string
  /** the measured side of the comparison, as shown, e.g. "0.62 ×" or "7.4 ms" */
  actual: string
  pass: boolean
}

export interface FigureResult {
  /** e.g. "GET activity/recent (largest tenant)" */
  figure: string
  value: number
  unit: string
  baseline: BaselineResult | null
  /** value ÷ baseline.value, when there is a baseline */
  ratio: number | null
  checks: TargetCheck[]
  /** anything worth keeping in latest.json: runs, p50/p99, sizes */
  details?: Record<string, unknown>
}

export interface Benchmark {
  /** the name given on the command line: npm run bench -- <name> */
  name: string
  description: string
  /** whether it needs ctx.dataset() (the harness builds it once, before the first that does) */
  usesDataset: boolean
  run(ctx: BenchContext): Promise<FigureResult[]>
}

/** Helpers for building checks, so every benchmark words its targets the same way. */
export function atLeastRatio(ratio: number | null, minimum: number, baselineName: string): TargetCheck {
  return {
    target: `≥ ${minimum} × ${baselineName}`,
    actual: ratio === null ? 'n/a' : `${ratio.toFixed(2)} ×`,
    pass: ratio !== null && ratio >= minimum,
  }
}

export function atMost(label: string, actual: number, maximum: number, unit: string): TargetCheck {
  return { target: `${label} ≤ ${maximum} ${unit}`, actual: `${round(actual)} ${unit}`, pass: actual <= maximum }
}

export function atLeast(label: string, actual: number, minimum: number, unit: string): TargetCheck {
  return { target: `${label} ≥ ${minimum} ${unit}`, actual: `${round(actual)} ${unit}`, pass: actual >= minimum }
}

export function ratioOf(value: number, baseline: number): number | null {
  return baseline > 0 ? value / baseline : null
}

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of nothing')
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

function round(value: number): number {
  return value >= 100 ? Math.round(value) : Math.round(value * 10) / 10
}
