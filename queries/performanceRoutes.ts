import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import type { Clock } from '../infra/clock.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { performanceOverview, performanceOverviewFor, type PerformanceOverviewTables } from '../projections/performanceOverview.ts'
import { nextQuarterHour, type ReadModelCache } from './readModelCache.ts'
import { awaitPosition, MinPosition } from './readYourWrites.ts'

export interface PerformanceRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  clock: Clock
  readYourWritesTimeoutMs: number
  /** answers kept until their read model changes; without it every request reads the database */
  answers?: ReadModelCache
}

const OverviewQuery = Type.Object({ min_position: MinPosition })

export const performanceRoutes: FastifyPluginAsyncTypebox<PerformanceRoutesOptions> = async (app, { db, engine, clock, readYourWritesTimeoutMs, answers }) => {
  const overview = readModel<PerformanceOverviewTables>(db, performanceOverview)
  app.addHook('preHandler', app.authenticate)

  app.get('/api/messaging/performance/overview/', { schema: { querystring: OverviewQuery }, config: { rateLimit: 'performance' } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const minPosition = request.query.min_position
    await awaitPosition(engine, reply, [performanceOverview.name], minPosition, readYourWritesTimeoutMs)
    const compute = async () => {
      const now = clock.now()
      // the six months end with the tenant's current month, which turns at a local midnight: on a UTC quarter hour
      return { value: JSON.stringify({ success: true, data: await performanceOverviewFor(overview, tenantId, now) }), validUntil: nextQuarterHour(now.getTime()) }
    }
    const body = answers
      ? await answers.answer({ projections: [performanceOverview.name], tenantId, key: 'overview', minPosition, at: clock.now().getTime() }, compute)
      : (await compute()).value
    return reply.type('application/json; charset=utf-8').send(body)
  })
}
