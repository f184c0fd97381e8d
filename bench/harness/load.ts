import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { median, type BenchMode } from './benchmark.ts'
import { awaitMessage, forkTypeScript } from './childProcesses.ts'
import type { LoadRunFigures, LoadRunnerOptions } from './loadRunner.ts'

/**
 * HTTP load for the figures and the baselines: autocannon in a process of its own (the load
 * generator never shares an event loop with the harness or the server under load), a warm-up
 * that is thrown away, then `runs` measured runs; the answer is the medians of the runs.
 */

export interface LoadOptions {
  url: string
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH'
  headers?: Record<string, string>
  body?: string
  /** absolute path of a module exporting setupRequest(req, context), called for each request (distinct bodies) */
  requestModule?: string
  connections: number
  durationSeconds: number
  warmupSeconds: number
  runs: number
}

export interface LoadRun {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  non2xx: number
  errors: number
}

export interface LoadResult extends LoadRun {
  runs: Array<LoadRun & { requests: number; durationSeconds: number }>
}

export interface LoadSettings {
  connections: number
  durationSeconds: number
  warmupSeconds: number
  runs: number
}

/** 50 connections always; full: a 3 s warm-up, then 3 runs of 10 s; quick: 2 s, then 3 of 3 s; smoke: 0.2 s, then one of 0.5 s. */
export function loadSettings(mode: BenchMode): LoadSettings {
  switch (mode) {
    case 'full':
      return { connections: 50, durationSeconds: 10, warmupSeconds: 3, runs: 3 }
    case 'quick':
      return { connections: 50, durationSeconds: 3, warmupSeconds: 2, runs: 3 }
    case 'smoke':
      return { connections: 50, durationSeconds: 0.5, warmupSeconds: 0.2, runs: 1 }
  }
}

const runnerModule = path.join(path.dirname(fileURLToPath(import.meta.url)), 'loadRunner.ts')

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  if (options.runs < 1) throw new Error('runLoad: at least one run')
  const runnerOptions: LoadRunnerOptions = {
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.headers ?? {},
    ...(options.body === undefined ? {} : { body: options.body }),
    ...(options.requestModule === undefined ? {} : { requestModule: path.resolve(options.requestModule) }),
    connections: options.connections,
    durationSeconds: options.durationSeconds,
    warmupSeconds: options.warmupSeconds,
    runs: options.runs,
  }
  const child = forkTypeScript(runnerModule)
  try {
    child.process.send(runnerOptions)
    const expectedSeconds = options.warmupSeconds + options.durationSeconds * options.runs
    const answer = await awaitMessage(
      child,
      (message) => {
        const kind = (message as { kind?: string } | null)?.kind
        return kind === 'load-result' || kind === 'load-error' ? (message as { kind: string; runs?: LoadRunFigures[]; message?: string }) : undefined
      },
      (expectedSeconds + 60) * 1000,
      `load on ${options.url}`,
    )
    if (answer.kind === 'load-error' || !answer.runs) throw new Error(`load on ${options.url} failed: ${answer.message ?? 'no runs'}`)
    const runs = answer.runs
    const result: LoadResult = {
      requestsPerSecond: median(runs.map((run) => run.requestsPerSecond)),
      p50Ms: median(runs.map((run) => run.p50Ms)),
      p99Ms: median(runs.map((run) => run.p99Ms)),
      non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
      errors: runs.reduce((sum, run) => sum + run.errors, 0),
      runs,
    }
    if (result.non2xx > 0 || result.errors > 0) {
      process.stderr.write(`load on ${options.method ?? 'GET'} ${options.url}: ${result.non2xx} non-2xx answers and ${result.errors} errors over ${runs.length} runs (only 2xx answers count in its figures)\n`)
    }
    return result
  } finally {
    await child.stop(5000)
  }
}
