import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import type { Clock } from '../infra/clock.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { ACTIVITY_TYPES, activityFeed, LIVE_TYPES, LIVE_WINDOW_MS, recentActivity, type ActivityFeedTables, type ActivityRow } from '../projections/activityFeed.ts'
import { activityStatistics, activityStatisticsFor, type ActivityStatisticsTables } from '../projections/activityStatistics.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { sendDashboardAnswer } from './keptAnswers.ts'
import { jsonBody, nextQuarterHour, type ReadModelCache } from './readModelCache.ts'
import { MinPosition } from './readYourWrites.ts'

export interface ActivityRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  clock: Clock
  readYourWritesTimeoutMs: number
  /** answers kept until their read model changes; without it every request reads the database */
  answers?: ReadModelCache
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

/** When `timeAgo(timestamp, now)` next reads differently. */
export function timeAgoChangesAt(timestamp: Date, now: Date): number {
  const at = timestamp.getTime()
  const minutes = Math.floor((now.getTime() - at) / 60_000)
  if (minutes < 60) return at + Math.max(1, minutes + 1) * 60_000
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return at + (hours + 1) * 3_600_000
  return at + (Math.floor(hours / 24) + 1) * 86_400_000
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

/**
 * When the live part of a recent-activity answer computed at `now` next changes by itself: the
 * oldest live activity in the window leaves it (null: none is in it).
 */
async function liveWindowEndsAt(feed: Kysely<ActivityFeedTables>, tenantId: string, type: string | undefined, now: Date): Promise<number | null> {
  const liveTypes = type ? LIVE_TYPES.filter((live) => live === type) : LIVE_TYPES
  if (liveTypes.length === 0) return null
  const row = await feed
    .selectFrom('activities')
    .select((eb) => eb.fn.min<Date>('occurred_at').as('oldest'))
    .where('tenant_id', '=', tenantId)
    .where('type', 'in', liveTypes)
    .where('occurred_at', '>=', new Date(now.getTime() - LIVE_WINDOW_MS))
    .executeTakeFirst()
  return row?.oldest ? new Date(row.oldest).getTime() + LIVE_WINDOW_MS + 1 : null
}

export const activityRoutes: FastifyPluginAsyncTypebox<ActivityRoutesOptions> = async (app, { db, engine, clock, readYourWritesTimeoutMs, answers }) => {
  const source = { engine, clock, readYourWritesTimeoutMs, answers }
  const feed = readModel<ActivityFeedTables>(db, activityFeed)
  const statistics = readModel<ActivityStatisticsTables>(db, activityStatistics)
  app.addHook('preHandler', app.authenticate)

  /** The answer's JSON (its bytes) and until when it holds (time_ago, is_live and live_count move with the clock). */
  const recentAnswer = async (tenantId: string, limit: number, type: (typeof ACTIVITY_TYPES)[number] | undefined) => {
    const now = clock.now()
    const [page, liveEnds] = await Promise.all([recentActivity(feed, { tenantId, limit, type, now }), answers ? liveWindowEndsAt(feed, tenantId, type, now) : null])
    let validUntil = liveEnds ?? Infinity
    for (const row of page.rows) {
      const timestamp = new Date(row.occurred_at)
      validUntil = Math.min(validUntil, timeAgoChangesAt(timestamp, now))
      if (LIVE_TYPES.includes(row.type)) {
        const liveUntil = timestamp.getTime() + LIVE_WINDOW_MS + 1
        if (liveUntil > now.getTime()) validUntil = Math.min(validUntil, liveUntil)
      }
    }
    const body = jsonBody({
      success: true,
      data: {
        activities: page.rows.map((row) => activityView(row, now)),
        has_more: page.hasMore,
        total_count: page.totalCount,
        live_count: page.liveCount,
      },
    })
    return { value: body, validUntil }
  }

  // a request without min_position whose answer is in memory is answered at once, without a
  // promise (sendDashboardAnswer): the dashboard's polling is almost all such requests
  app.get('/api/messaging/activity/recent/', { schema: { querystring: RecentQuery }, config: { rateLimit: 'activity_recent' } }, (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const { limit, type, min_position: minPosition } = request.query
    const question = { tenantId, key: `recent ${limit} ${type ?? ''}`, projection: activityFeed.name, minPosition }
    return sendDashboardAnswer(source, reply, question, () => recentAnswer(tenantId, limit, type))
  })

  app.get('/api/messaging/activity/statistics/', { schema: { querystring: StatisticsQuery }, config: { rateLimit: 'statistics' } }, (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const question = { tenantId, key: 'statistics', projection: activityStatistics.name, minPosition: request.query.min_position }
    return sendDashboardAnswer(source, reply, question, async () => {
      const now = clock.now()
      // "today", "this week" and "this month" turn at a local midnight: on a UTC quarter hour
      return { value: jsonBody({ success: true, data: await activityStatisticsFor(statistics, tenantId, now) }), validUntil: nextQuarterHour(now.getTime()) }
    })
  })
}
