import autocannon from 'autocannon'
import { pathToFileURL } from 'node:url'
import type { LoadOptions } from './load.ts'

/**
 * The load generator's process (started by bench/harness/load.ts, never imported): it gets its
 * options over IPC, runs autocannon for a warm-up and then for each measured run, and answers the
 * runs' figures. Latencies are its own record of every 2xx response (autocannon's histogram keeps
 * whole milliseconds), so p50 and p99 keep their fractions.
 */

/** what the runner is given: the load's options with the method and headers filled in */
export type LoadRunnerOptions = Omit<LoadOptions, 'method' | 'headers'> & Required<Pick<LoadOptions, 'method' | 'headers'>>

export interface LoadRunFigures {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  non2xx: number
  errors: number
  requests: number
  durationSeconds: number
}

type SetupRequest = (request: Record<string, unknown>, context: Record<string, unknown>) => Record<string, unknown> | undefined

async function runOnce(options: LoadRunnerOptions, seconds: number, setupRequest: SetupRequest | undefined): Promise<LoadRunFigures> {
  let latencies = new Float64Array(1 << 16)
  let count = 0
  const instance = autocannon({
    url: options.url,
    method: options.method,
    headers: options.headers,
    ...(options.body === undefined ? {} : { body: options.body }),
    ...(setupRequest ? { requests: [{ setupRequest: setupRequest as never }] } : {}),
    connections: options.connections,
    duration: seconds,
    timeout: 30,
    // autocannon stops at its first sample tick after the duration: ticks of 250 ms keep a run
    // within a quarter of a second of what was asked (the default, 1 s, adds up to a second a run)
    sampleInt: 250,
  })
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode < 200 || statusCode >= 300) return
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2)
      grown.set(latencies)
      latencies = grown
    }
    latencies[count++] = responseTime
  })
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    instance.once('done', resolve)
    instance.once('error', reject)
  })
  const sorted = latencies.subarray(0, count).sort()
  const percentile = (p: number) => (count === 0 ? Number.NaN : sorted[Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1))]!)
  const duration = result.duration > 0 ? result.duration : seconds
  return {
    requestsPerSecond: result['2xx'] / duration,
    p50Ms: percentile(50),
    p99Ms: percentile(99),
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    requests: result['2xx'],
    durationSeconds: duration,
  }
}

process.once('message', async (message: unknown) => {
  const options = message as LoadRunnerOptions
  try {
    let setupRequest: SetupRequest | undefined
    if (options.requestModule) {
      const loaded = (await import(pathToFileURL(options.requestModule).href)) as { setupRequest?: SetupRequest }
      if (typeof loaded.setupRequest !== 'function') throw new Error(`${options.requestModule} exports no setupRequest`)
      setupRequest = loaded.setupRequest
    }
    if (options.warmupSeconds > 0) await runOnce(options, options.warmupSeconds, setupRequest)
    const runs: LoadRunFigures[] = []
    for (let i = 0; i < options.runs; i++) runs.push(await runOnce(options, options.durationSeconds, setupRequest))
    process.send!({ kind: 'load-result', runs }, () => process.exit(0))
  } catch (error) {
    process.send!({ kind: 'load-error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.exit(1))
  }
})
