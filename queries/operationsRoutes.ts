import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Redis } from 'ioredis'
import { sql, type Kysely } from 'kysely'
import { AuthenticationRequired } from '../infra/errors.ts'
import type { EventStore } from '../infra/eventStore/eventStore.ts'
import type { ServiceMetrics } from '../infra/ops/metrics.ts'
import type { QueueSystem } from '../infra/queue/jobQueue.ts'
import type { EngineTables } from '../projections/engine/checkpoints.ts'
import type { Projection } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'

/**
 * Operations endpoints, outside /api, with no rate limit and no user token:
 * - GET /health: the process is up;
 * - GET /ready: it can serve: the database answers, Redis answers (when configured), the event
 *   store answers, and no projection or reactor has failed;
 * - GET /metrics: Prometheus text exposition (infra/ops/metrics.ts) — with METRICS_TOKEN set it
 *   wants `Authorization: Bearer <METRICS_TOKEN>`; without it, keep /metrics off public networks.
 */
export interface OperationsRoutesOptions {
  db: Kysely<any>
  store: EventStore
  engine: ProjectionEngine
  redis: Redis | null
  queues: QueueSystem
  /** the queues whose depth /metrics reports */
  queueNames: readonly string[]
  metrics: ServiceMetrics
  /** the projections run in this process (their state is in memory); otherwise it is read from their checkpoints */
  projectionsRunHere: boolean
  metricsToken: string | undefined
  /** longest wait of one readiness check */
  checkTimeoutMs?: number
}

export type CheckStatus = 'ok' | 'error' | 'skipped'

export interface CheckResult {
  status: CheckStatus
  duration_ms: number
  error?: string
  [detail: string]: unknown
}

class CheckFailed extends Error {
  readonly details: Record<string, unknown>
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.details = details
  }
}

/**
 * Runs one check within `timeoutMs`. A failure answers a short reason, never the error's own
 * text (it can name hosts and users: /ready is open); the log has the details.
 */
async function runCheck(timeoutMs: number, check: () => Promise<Record<string, unknown> | 'skipped'>, log: (error: unknown) => void): Promise<CheckResult> {
  const started = performance.now()
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailed('timeout')), timeoutMs)
  })
  try {
    const details = await Promise.race([check(), timeout])
    if (details === 'skipped') return { status: 'skipped', duration_ms: elapsed() }
    return { status: 'ok', duration_ms: elapsed(), ...details }
  } catch (error) {
    if (!(error instanceof CheckFailed)) log(error)
    return { status: 'error', duration_ms: elapsed(), error: error instanceof CheckFailed ? error.message : 'unreachable', ...(error instanceof CheckFailed ? error.details : {}) }
  } finally {
    clearTimeout(timer)
  }
}

/** The serving checkpoint of each subscriber (the newest version's row when a legacy database has several). */
async function checkpointsOf(db: Kysely<any>, names: readonly string[]): Promise<Map<string, { position: number; status: string }>> {
  const rows = names.length === 0 ? [] : await (db as Kysely<EngineTables>).selectFrom('projection_checkpoints').select(['name', 'version', 'position', 'status']).where('name', 'in', [...names]).orderBy('version').execute()
  return new Map(rows.map((row) => [row.name, { position: Number(row.position), status: row.status }]))
}

function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(given), digest(expected))
}

export const operationsRoutes: FastifyPluginAsyncTypebox<OperationsRoutesOptions> = async (app, options) => {
  const { db, store, engine, redis, queues, metrics } = options
  const checkTimeoutMs = options.checkTimeoutMs ?? 2000
  const logCheck = (name: string) => (error: unknown) => app.log.warn({ err: error, check: name }, 'readiness check failed')

  app.get('/health', { config: { rateLimit: false }, schema: { tags: ['operations'], summary: 'The process is up', security: [] } }, async () => ({ status: 'ok' }))

  app.get(
    '/ready',
    { config: { rateLimit: false }, schema: { tags: ['operations'], summary: 'Ready to serve: database, Redis, event store reachable; no projection failed (503 otherwise)', security: [] } },
    async (_request, reply) => {
      const [database, redisCheck, eventStore, projections] = await Promise.all([
        runCheck(checkTimeoutMs, async () => {
          await sql`select 1`.execute(db)
          return {}
        }, logCheck('database')),
        runCheck(checkTimeoutMs, async () => {
          if (!redis) return 'skipped'
          const answer = await redis.ping()
          if (answer !== 'PONG') throw new CheckFailed('unexpected answer')
          return {}
        }, logCheck('redis')),
        runCheck(checkTimeoutMs, async () => ({ head_position: await store.headPosition() }), logCheck('event_store')),
        runCheck(checkTimeoutMs, async () => {
          const names = engine.names()
          const failed = options.projectionsRunHere
            ? engine.report().filter((report) => report.status === 'failed').map((report) => report.name)
            : [...(await checkpointsOf(db, names))].filter(([, checkpoint]) => checkpoint.status === 'failed').map(([name]) => name)
          if (failed.length > 0) throw new CheckFailed('failed', { failed })
          return { failed: [], count: names.length }
        }, logCheck('projections')),
      ])
      const checks = { database, redis: redisCheck, event_store: eventStore, projections }
      const ready = Object.values(checks).every((check) => check.status !== 'error')
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks })
    },
  )

  // gauges refreshed at each scrape: projection lag and queue depth
  const head = metrics.gauge('mifumo_event_store_head_position', 'Global position of the last event in the store')
  const checkpoint = metrics.gauge('mifumo_projection_checkpoint_position', 'Position up to which the projection has handled the log', ['projection'])
  const lagPositions = metrics.gauge('mifumo_projection_lag_positions', 'Head position minus the projection checkpoint (positions are not dense: see lag_events)', ['projection'])
  const lagEvents = metrics.gauge('mifumo_projection_lag_events', 'Events of the types the projection handles that it has not handled yet', ['projection'])
  const lagSeconds = metrics.gauge('mifumo_projection_lag_seconds', 'Age of the oldest event the projection has not handled yet (0 when caught up)', ['projection'])
  const failedGauge = metrics.gauge('mifumo_projection_failed', '1 when the projection (or reactor) is stopped at a failing batch', ['projection'])
  const queueJobs = metrics.gauge('mifumo_queue_jobs', 'Jobs in each queue, by state (waiting, active, delayed, failed)', ['queue', 'state'])
  const queueCompleted = metrics.gauge('mifumo_queue_completed_jobs', 'Jobs completed so far, as the queue counts them', ['queue'])

  metrics.onScrape('projections', async () => {
    const names = engine.names()
    const projections = names.map((name) => engine.projection(name)).filter((projection): projection is Projection => projection !== undefined)
    const [top, checkpoints] = await Promise.all([store.headPosition(), checkpointsOf(db, names)])
    const now = Date.now()
    const lags = await Promise.all(
      projections.map(async (projection) => {
        const position = checkpoints.get(projection.name)?.position ?? 0
        if (position >= top) return { name: projection.name, position, events: 0, seconds: 0 }
        const [events, oldest] = await Promise.all([
          store.countEvents ? store.countEvents({ after: position, upTo: top, eventTypes: projection.eventTypes }) : Promise.resolve(null),
          store.readAll({ after: position, limit: 1, eventTypes: projection.eventTypes }).then((slice) => slice.events[0]),
        ])
        return { name: projection.name, position, events, seconds: oldest ? Math.max(0, (now - oldest.recordedAt.getTime()) / 1000) : 0 }
      }),
    )
    const statuses = options.projectionsRunHere ? new Map(engine.report().map((report) => [report.name, report.status as string])) : new Map([...checkpoints].map(([name, row]) => [name, row.status]))
    head.set(top)
    for (const gauge of [checkpoint, lagPositions, lagEvents, lagSeconds, failedGauge]) gauge.reset()
    for (const lag of lags) {
      checkpoint.set({ projection: lag.name }, lag.position)
      lagPositions.set({ projection: lag.name }, Math.max(0, top - lag.position))
      if (lag.events !== null) lagEvents.set({ projection: lag.name }, lag.events)
      lagSeconds.set({ projection: lag.name }, lag.seconds)
    }
    for (const name of names) failedGauge.set({ projection: name }, statuses.get(name) === 'failed' ? 1 : 0)
  })

  metrics.onScrape('queues', async () => {
    const counts = await Promise.all(options.queueNames.map(async (name) => ({ name, counts: await queues.queue(name).counts() })))
    queueJobs.reset()
    queueCompleted.reset()
    for (const { name, counts: c } of counts) {
      for (const state of ['waiting', 'active', 'delayed', 'failed'] as const) queueJobs.set({ queue: name, state }, c[state])
      queueCompleted.set({ queue: name }, c.completed)
    }
  })

  app.get(
    '/metrics',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        description: 'Open unless METRICS_TOKEN is set (then `Authorization: Bearer <METRICS_TOKEN>`): do not expose it publicly.',
        produces: ['text/plain'],
        security: options.metricsToken ? [{ metricsToken: [] }] : [],
      },
    },
    async (request, reply) => {
      if (options.metricsToken) {
        const given = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1]
        if (!given || !sameSecret(given, options.metricsToken)) throw new AuthenticationRequired()
      }
      const { contentType, body } = await metrics.render((error) => request.log.warn({ err: error }, 'a metrics collector failed'))
      return reply.type(contentType).send(body)
    },
  )
}
