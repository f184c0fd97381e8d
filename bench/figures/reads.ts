import { atLeastRatio, atMost, ratioOf, type BaselineResult, type Benchmark, type BenchContext, type FigureResult, type TargetCheck } from '../harness/benchmark.ts'
import { loadSettings, runLoad, type LoadResult } from '../harness/load.ts'
import { startService } from '../harness/service.ts'

/**
 * The dashboard's three reads for the dataset's largest tenant (a quarter of the events), under
 * 50 connections: GET activity/recent, performance/overview and activity/statistics with their
 * default query strings, through the whole service (authentication, validation, hooks, logging
 * at the service's level). Each against bare Fastify (≥ 0.5 ×) and a p99 of at most 10 ms; the
 * Fastify + pg SELECT baseline is shown beside it for context.
 */

export const READ_ROUTES = [
  { figure: 'GET activity/recent (largest tenant)', path: '/api/messaging/activity/recent/' },
  { figure: 'GET performance/overview (largest tenant)', path: '/api/messaging/performance/overview/' },
  { figure: 'GET activity/statistics (largest tenant)', path: '/api/messaging/activity/statistics/' },
] as const

export const READ_P99_LIMIT_MS = 10
export const READ_THROUGHPUT_RATIO = 0.5

/** Signs in as the tenant's user; the access token acts in that tenant (switched to it when the login lands elsewhere). */
export async function signIn(baseUrl: string, user: { tenantId: string; email: string; password: string }): Promise<string> {
  const login = await postJson(baseUrl, '/api/auth/login/', { email: user.email, password: user.password })
  let access = login.data.access as string
  if (login.data.user?.tenant_id !== user.tenantId) {
    const switched = await postJson(baseUrl, '/api/tenants/switch/', { tenant_id: user.tenantId }, access)
    access = switched.data.access as string
  }
  return access
}

async function postJson(baseUrl: string, path: string, body: unknown, token?: string): Promise<{ data: Record<string, any> }> {
  const response = await fetch(baseUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`POST ${path} answered ${response.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as { data: Record<string, any> }
}

function nonErrorCheck(load: LoadResult): TargetCheck {
  const failed = load.non2xx + load.errors
  return { target: 'non-2xx and errors = 0', actual: String(failed), pass: failed === 0 }
}

export function readFigure(name: string, load: LoadResult, bare: BaselineResult, pgSelect: BaselineResult, extra: Record<string, unknown> = {}): FigureResult {
  const ratio = ratioOf(load.requestsPerSecond, bare.value)
  return {
    figure: name,
    value: Math.round(load.requestsPerSecond),
    unit: 'requests/s',
    baseline: bare,
    ratio,
    // no answer at all has no latency to speak of: that is a miss, not a p99 of 0
    checks: [atLeastRatio(ratio, READ_THROUGHPUT_RATIO, 'bare Fastify'), atMost('p99', load.requestsPerSecond > 0 ? load.p99Ms : Infinity, READ_P99_LIMIT_MS, 'ms'), nonErrorCheck(load)],
    details: {
      p50Ms: load.p50Ms,
      p99Ms: load.p99Ms,
      non2xx: load.non2xx,
      errors: load.errors,
      runs: load.runs,
      fastifyPgSelect: { requestsPerSecond: pgSelect.value, ratio: ratioOf(load.requestsPerSecond, pgSelect.value) },
      // the same closed-loop load's p99 on bare Fastify: the floor this machine puts under any p99
      bareFastifyP99Ms: (bare.details as { p99Ms?: number } | undefined)?.p99Ms ?? null,
      ...extra,
    },
  }
}

export const benchmark: Benchmark = {
  name: 'reads',
  description: "the dashboard's reads (activity/recent, performance/overview, activity/statistics) for the largest tenant, against bare Fastify",
  usesDataset: true,
  async run(ctx: BenchContext) {
    const dataset = await ctx.dataset()
    const bare = await ctx.baseline('bareFastify')
    const pgSelect = await ctx.baseline('fastifyPgSelect')
    const service = await startService({ databaseUrl: dataset.databaseUrl })
    ctx.onCleanup(() => service.stop())
    try {
      const token = await signIn(service.baseUrl, dataset.largestTenant)
      const headers = { authorization: `Bearer ${token}` }
      const settings = loadSettings(ctx.mode)
      // a service just started compiles its code and its projectors look over the log once: let
      // that pass on every route before any route is measured (the first one measured was the
      // slowest otherwise)
      for (const route of READ_ROUTES) {
        await runLoad({ url: service.baseUrl + route.path, headers, connections: settings.connections, durationSeconds: settings.warmupSeconds, warmupSeconds: 0, runs: 1 })
      }
      const figures: FigureResult[] = []
      for (const route of READ_ROUTES) {
        // one answer first: it must be a success, and says what the load reads
        const sample = await fetch(service.baseUrl + route.path, { headers })
        const text = await sample.text()
        if (!sample.ok) throw new Error(`GET ${route.path} answered ${sample.status}: ${text.slice(0, 300)}`)
        const load = await runLoad({ url: service.baseUrl + route.path, headers, ...settings })
        ctx.log(`${route.path}: ${Math.round(load.requestsPerSecond)} requests/s, p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms, non-2xx ${load.non2xx}, errors ${load.errors}`)
        figures.push(readFigure(route.figure, load, bare, pgSelect, { path: route.path, answerBytes: Buffer.byteLength(text) }))
      }
      return figures
    } finally {
      await service.stop()
    }
  },
}
