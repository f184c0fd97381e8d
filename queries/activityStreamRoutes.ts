import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import type { Clock } from '../infra/clock.ts'
import type { SqlDatabase } from '../infra/database/sqlDatabase.ts'
import { TemporarilyUnavailable } from '../infra/errors.ts'
import { USER_SECURITY } from '../infra/http/apiDocs.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import type { ServiceMetrics } from '../infra/ops/metrics.ts'
import { activityFeed, type ActivityFeedTables } from '../projections/activityFeed.ts'
import { watchProjectionCommits } from '../projections/engine/commitNotifications.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { ActivityStreamHub } from './activityStream.ts'

export const ACTIVITY_STREAM_PATH = '/api/messaging/activity/stream/'

export interface ActivityStreamRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  database: Pick<SqlDatabase, 'engine' | 'listen'>
  clock: Clock
  heartbeatMs: number
  metrics?: ServiceMetrics
}

const StreamQuery = Type.Object({
  access_token: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'The access token (or an API key), for clients that cannot send headers (a browser EventSource). Prefer the Authorization header where possible.',
    }),
  ),
  last_event_id: Type.Optional(Type.Integer({ minimum: 0, description: 'Resume after this activity position (the Last-Event-ID header wins when both are sent).' })),
})

const StreamHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,16}$', description: 'The id of the last event received: the stream resends what changed after it.' })),
})

const API_KEY = /^mk_[0-9a-f]{12}_/

/**
 * GET /api/messaging/activity/stream/: the tenant's new activities as Server-Sent Events, as the
 * activity_feed projector writes them (see queries/activityStream.ts). Authenticated like every
 * activity route; a browser's EventSource, which cannot set headers, may pass the token as
 * `?access_token=` (kept out of the logs).
 */
export const activityStreamRoutes: FastifyPluginAsyncTypebox<ActivityStreamRoutesOptions> = async (app, options) => {
  const hub = new ActivityStreamHub({
    feed: readModel<ActivityFeedTables>(options.db, activityFeed),
    clock: options.clock,
    heartbeatMs: options.heartbeatMs,
    // every app on these services counts into the same gauge
    ...(options.metrics ? { connectionGauge: options.metrics.gauge('mifumo_activity_streams', 'Open live activity streams (SSE) in this process') } : {}),
    onError: (error, context) => app.log.error({ err: error, ...context }, 'activity stream: reading new activities failed'),
  })
  const stopWatching = await watchProjectionCommits(options.engine, options.database, (name) => {
    if (name === activityFeed.name) hub.committed()
  })
  // streams never end by themselves: end them before the server waits for its requests to finish
  app.addHook('preClose', async () => {
    hub.close()
    await stopWatching()
  })

  const authenticateStream = async (request: FastifyRequest): Promise<void> => {
    const token = (request.query as { access_token?: string }).access_token
    if (token && !request.headers.authorization && !request.headers['x-api-key']) {
      request.headers.authorization = API_KEY.test(token) ? `Api-Key ${token}` : `Bearer ${token}`
    }
    await app.authenticate(request)
  }

  app.get(
    ACTIVITY_STREAM_PATH,
    {
      schema: {
        querystring: StreamQuery,
        headers: StreamHeaders,
        produces: ['text/event-stream'],
        security: [...USER_SECURITY, { accessTokenQuery: [] }],
        summary: "The tenant's new activities, live (Server-Sent Events)",
        response: {
          200: {
            description: 'An event stream that stays open: `retry:` first, then `activity` events and `: heartbeat` comments',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
        },
        description:
          'Server-Sent Events: `id: <activity position>`, `event: activity`, `data: <one item of /activity/recent/ activities>`. ' +
          'A contacts_added group that grows is sent again with the same data.id and a new position. ' +
          'Resumable with Last-Event-ID (at most 100 changes back); `: heartbeat` comments keep it open.',
      },
      preHandler: authenticateStream,
    },
    async (request, reply) => {
      const { tenantId } = tenantPrincipal(request)
      if (hub.closed) throw new TemporarilyUnavailable('The server is shutting down; reconnect shortly')
      const header = request.headers['last-event-id']
      const lastSeen = header !== undefined ? Number(header) : (request.query.last_event_id ?? null)
      const cursor = await hub.startPosition(tenantId, lastSeen)

      reply.hijack()
      const response = reply.raw
      const headersSoFar = Object.entries(reply.getHeaders()).filter((entry): entry is [string, string | number | string[]] => entry[1] !== undefined)
      response.writeHead(200, {
        ...Object.fromEntries(headersSoFar),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // proxies that buffer answers (nginx) pass this one on at once
        'x-accel-buffering': 'no',
      })
      response.flushHeaders()
      hub.attach(tenantId, response, cursor)
    },
  )
}
