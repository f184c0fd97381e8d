import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { median, type BenchContext, type BenchMode } from '../harness/benchmark.ts'
import { createBenchDatabase } from '../harness/databases.ts'
import { loadSettings } from '../harness/load.ts'

/**
 * What the write figures share: a fresh database per measurement, the durations of each mode, a
 * loop of concurrent writers counted over fixed windows, and the one event every writer writes.
 *
 * The stream pattern, the same for the peer and for our store: each of the writers appends to a
 * stream of its own, one event per append, with the version it last wrote as the expected version
 * (optimistic concurrency checked on every append); a writer starts a new stream every
 * STREAM_LENGTH events, so streams stay the length of a busy aggregate rather than growing
 * without bound.
 */
export const WRITERS = 10
export const STREAM_LENGTH = 100

export interface WriteDurations {
  warmupSeconds: number
  durationSeconds: number
  runs: number
}

/** The durations of the HTTP figures (bench/harness/load.ts), for the write loops too. */
export function writeDurations(mode: BenchMode): WriteDurations {
  const { warmupSeconds, durationSeconds, runs } = loadSettings(mode)
  return { warmupSeconds, durationSeconds, runs }
}

/** A new empty database on the benchmark's server, dropped when the run ends. */
export async function freshDatabase(ctx: BenchContext, label: string): Promise<string> {
  const database = await createBenchDatabase(ctx.postgresUrl, label)
  ctx.onCleanup(() => database.drop())
  return database.url
}

export interface WriterRun {
  perSecond: number
  p50Ms: number
  p99Ms: number
}

export interface WriterMeasurement extends WriterRun {
  /** the median run's rate, and each run */
  runs: WriterRun[]
  writers: number
  failures: number
}

/**
 * Runs `writers` loops of `write` (each awaits its previous write) for the warm-up and then
 * `runs` windows of `durationSeconds`, counting what `write` says it wrote (events or rows) in
 * each window. Returns the medians. A write that throws is counted as a failure and the loop goes
 * on; more failures than successes stop the measurement with the first error.
 */
export async function measureWriters(
  durations: WriteDurations,
  write: (writer: number, sequence: number) => Promise<number>,
  writers = WRITERS,
): Promise<WriterMeasurement> {
  let stopped = false
  let counted = 0
  let recording = false
  let latencies: number[] = []
  let failures = 0
  let firstError: unknown
  let succeeded = 0

  const loop = async (writer: number): Promise<void> => {
    for (let sequence = 0; !stopped; sequence++) {
      const started = performance.now()
      try {
        const written = await write(writer, sequence)
        succeeded++
        if (recording) {
          counted += written
          latencies.push(performance.now() - started)
        }
      } catch (error) {
        failures++
        firstError ??= error
        if (failures > 20 && failures > succeeded) {
          stopped = true
          throw error
        }
      }
    }
  }

  const loops = Array.from({ length: writers }, (_, writer) => loop(writer))
  const settled = Promise.allSettled(loops)
  const runs: WriterRun[] = []
  try {
    await sleep(durations.warmupSeconds * 1000)
    for (let run = 0; run < durations.runs && !stopped; run++) {
      counted = 0
      latencies = []
      recording = true
      const started = performance.now()
      await sleep(durations.durationSeconds * 1000)
      recording = false
      const seconds = (performance.now() - started) / 1000
      runs.push({ perSecond: counted / seconds, ...percentiles(latencies) })
    }
  } finally {
    stopped = true
    await settled
  }
  if (runs.length < durations.runs || runs.some((run) => run.perSecond === 0)) throw firstError ?? new Error('no write completed')
  const medianRate = median(runs.map((run) => run.perSecond))
  const middle = runs.find((run) => run.perSecond === medianRate) ?? runs[0]!
  return { perSecond: medianRate, p50Ms: middle.p50Ms, p99Ms: middle.p99Ms, runs, writers, failures }
}

function percentiles(latencies: number[]): { p50Ms: number; p99Ms: number } {
  if (latencies.length === 0) return { p50Ms: 0, p99Ms: 0 }
  const sorted = Float64Array.from(latencies).sort()
  const at = (q: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 100) / 100
  return { p50Ms: at(0.5), p99Ms: at(0.99) }
}

/**
 * The event every write figure writes: a contact-created event with the metadata our commands
 * attach (about 400 bytes of JSON), the same data for the peer and for the raw INSERT rows.
 */
export function sampleEvent(writer: number, sequence: number): { id: string; type: string; data: Record<string, unknown>; metadata: Record<string, unknown> } {
  const phone = `+2557${String(writer).padStart(2, '0')}${String(sequence).padStart(6, '0')}`
  return {
    id: randomUUID(),
    type: 'ContactCreated',
    data: {
      contactId: randomUUID(),
      tenantId: BENCH_TENANT,
      name: `Contact ${writer}-${sequence}`,
      phone,
      email: null,
      tags: ['customer', 'bench'],
      attributes: { city: 'Dar es Salaam', plan: 'basic' },
      isActive: true,
      isOptedIn: false,
      source: 'api',
      importId: null,
    },
    metadata: {
      tenantId: BENCH_TENANT,
      userId: BENCH_USER,
      correlationId: randomUUID(),
      causationId: null,
      ip: '127.0.0.1',
      userAgent: 'bench',
      occurredAt: new Date().toISOString(),
      schemaVersion: 1,
    },
  }
}

const BENCH_TENANT = '7d3f0c5e-2b1a-4c8e-9f6d-0a1b2c3d4e5f'
const BENCH_USER = '1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6'

/** The stream a writer's sequence-th append goes to (see the pattern above). */
export function writerStream(category: string, run: string, writer: number, sequence: number): { name: string; version: number } {
  return { name: `${category}-${run}_${writer}_${Math.floor(sequence / STREAM_LENGTH)}`, version: sequence % STREAM_LENGTH }
}
