import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import type { Clock } from '../infra/clock.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { performanceOverview, performanceOverviewFor, type PerformanceOverviewTables } from '../projections/performanceOverview.ts'
import { sendDashboardAnswer } from './keptAnswers.ts'
import { jsonBody, nextQuarterHour, type ReadModelCache } from './readModelCache.ts'
import { MinPosition } from './readYourWrites.ts'

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
  const source = { engine, clock, readYourWritesTimeoutMs, answers }
  app.addHook('preHandler', app.authenticate)

  app.get('/api/messaging/performance/overview/', { schema: { querystring: OverviewQuery }, config: { rateLimit: 'performance' } }, (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const question = { tenantId, key: 'overview', projection: performanceOverview.name, minPosition: request.query.min_position }
    return sendDashboardAnswer(source, reply, question, async () => {
      const now = clock.now()
      // the six months end with the tenant's current month, which turns at a local midnight: on a UTC quarter hour
      return { value: jsonBody({ success: true, data: await performanceOverviewFor(overview, tenantId, now) }), validUntil: nextQuarterHour(now.getTime()) }
    })
  })
}
