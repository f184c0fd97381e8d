import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import type { Clock } from '../infra/clock.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { analyticsOverview, analyticsOverviewFor, type AnalyticsOverviewTables } from '../projections/analyticsOverview.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { awaitPosition, MinPosition } from './readYourWrites.ts'

export interface AnalyticsRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  clock: Clock
  readYourWritesTimeoutMs: number
}

const OverviewQuery = Type.Object({ min_position: MinPosition })

export const analyticsRoutes: FastifyPluginAsyncTypebox<AnalyticsRoutesOptions> = async (app, { db, engine, clock, readYourWritesTimeoutMs }) => {
  const overview = readModel<AnalyticsOverviewTables>(db, analyticsOverview)
  app.addHook('preHandler', app.authenticate)

  /** The dashboard's totals: contacts, campaigns, messages, conversations, templates and rates. */
  app.get('/api/messaging/analytics/overview/', { schema: { querystring: OverviewQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [analyticsOverview.name], request.query.min_position, readYourWritesTimeoutMs)
    const data = await analyticsOverviewFor(overview, tenantId)
    return { success: true, data: { ...data, generated_at: clock.now().toISOString() } }
  })
}
