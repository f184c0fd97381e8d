import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import type { Clock } from '../infra/clock.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { ACTIVITY_TYPES, activityFeed, LIVE_TYPES, LIVE_WINDOW_MS, recentActivity, type ActivityFeedTables, type ActivityRow } from '../projections/activityFeed.ts'
import { activityStatistics, activityStatisticsFor, type ActivityStatisticsTables } from '../projections/activityStatistics.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { awaitPosition, MinPosition } from './readYourWrites.ts'

export interface ActivityRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  clock: Clock
  readYourWritesTimeoutMs: number
}

const RecentQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  type: Type.Optional(Type.Enum([...ACTIVITY_TYPES])),
  min_position: MinPosition,
})

const StatisticsQuery = Type.Object({ min_position: MinPosition })

/** "Just now", "2 min ago", "1 hour ago", "3 days ago", as the spec's dashboard formats them. */
export function timeAgo(timestamp: Date, now: Date): string {
  const minutes = Math.floor((now.getTime() - timestamp.getTime()) / 60_000)
  if (minutes < 1) return 'Just now'
  if (minutes < 60) return `${minutes} min ago`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return `${hours} hour${hours > 1 ? 's' : ''} ago`
  const days = Math.floor(hours / 24)
  return `${days} day${days > 1 ? 's' : ''} ago`
}

export function isLive(row: Pick<ActivityRow, 'type' | 'occurred_at'>, now: Date): boolean {
  return LIVE_TYPES.includes(row.type) && now.getTime() - new Date(row.occurred_at).getTime() <= LIVE_WINDOW_MS
}

/** An activity row as the API shows it. */
export function activityView(row: ActivityRow, now: Date) {
  const timestamp = new Date(row.occurred_at)
  return {
    id: row.activity_id,
    type: row.type,
    title: row.title,
    description: row.description,
    timestamp: timestamp.toISOString(),
    time_ago: timeAgo(timestamp, now),
    is_live: isLive(row, now),
    metadata: typeof row.metadata === 'string' ? (JSON.parse(row.metadata) as Record<string, unknown>) : row.metadata,
  }
}

export const activityRoutes: FastifyPluginAsyncTypebox<ActivityRoutesOptions> = async (app, { db, engine, clock, readYourWritesTimeoutMs }) => {
  const feed = readModel<ActivityFeedTables>(db, activityFeed)
  const statistics = readModel<ActivityStatisticsTables>(db, activityStatistics)
  app.addHook('preHandler', app.authenticate)

  app.get('/api/messaging/activity/recent/', { schema: { querystring: RecentQuery }, config: { rateLimit: 'activity_recent' } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [activityFeed.name], request.query.min_position, readYourWritesTimeoutMs)
    const now = clock.now()
    const page = await recentActivity(feed, { tenantId, limit: request.query.limit, type: request.query.type, now })
    return {
      success: true,
      data: {
        activities: page.rows.map((row) => activityView(row, now)),
        has_more: page.hasMore,
        total_count: page.totalCount,
        live_count: page.liveCount,
      },
    }
  })

  app.get('/api/messaging/activity/statistics/', { schema: { querystring: StatisticsQuery }, config: { rateLimit: 'statistics' } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [activityStatistics.name], request.query.min_position, readYourWritesTimeoutMs)
    return { success: true, data: await activityStatisticsFor(statistics, tenantId, clock.now()) }
  })
}
