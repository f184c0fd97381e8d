import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import type { Clock } from '../infra/clock.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { performanceOverview, performanceOverviewFor, type PerformanceOverviewTables } from '../projections/performanceOverview.ts'
import { awaitPosition, MinPosition } from './readYourWrites.ts'

export interface PerformanceRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  clock: Clock
  readYourWritesTimeoutMs: number
}

const OverviewQuery = Type.Object({ min_position: MinPosition })

export const performanceRoutes: FastifyPluginAsyncTypebox<PerformanceRoutesOptions> = async (app, { db, engine, clock, readYourWritesTimeoutMs }) => {
  const overview = readModel<PerformanceOverviewTables>(db, performanceOverview)
  app.addHook('preHandler', app.authenticate)

  app.get('/api/messaging/performance/overview/', { schema: { querystring: OverviewQuery }, config: { rateLimit: 'performance' } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [performanceOverview.name], request.query.min_position, readYourWritesTimeoutMs)
    return { success: true, data: await performanceOverviewFor(overview, tenantId, clock.now()) }
  })
}
