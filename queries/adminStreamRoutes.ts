import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { userDescriber } from '../commands/users/userDirectory.ts'
import { NotFound, ValidationFailed } from '../infra/errors.ts'
import type { EventStore } from '../infra/eventStore/eventStore.ts'
import {
  eventView,
  eventViews,
  inspection,
  InspectionUnsupported,
  readLogPage,
  readStreamPage,
  streamView,
  type DescribeUsers,
} from '../infra/ops/streamInspection.ts'
import { PageQuery, pageLinks } from './pagination.ts'

export interface AdminStreamRoutesOptions {
  store: EventStore
  /** who the users behind events are (default: read from their user streams) */
  describeUsers?: DescribeUsers
}

const Category = Type.String({ minLength: 1, maxLength: 100, pattern: '^[^-\\s]+$', description: 'a stream category (the part of a stream name before its first "-")' })
const EventType = Type.String({ minLength: 1, maxLength: 200 })

const StreamListQuery = Type.Object({ category: Type.Optional(Category), ...PageQuery })

const StreamParams = Type.Object({ stream: Type.String({ minLength: 1, maxLength: 300 }) })
const StreamEventsQuery = Type.Object({
  direction: Type.Enum(['forward', 'backward'], { default: 'forward' }),
  from_version: Type.Optional(Type.Integer({ minimum: 0, description: 'inclusive; forward starts at 0 by default, backward at the last version' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
})

const LogQuery = Type.Object({
  after: Type.Integer({ minimum: 0, default: 0, description: 'exclusive: events after this global position' }),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  type: Type.Optional(Type.Array(EventType, { maxItems: 50, description: 'event types (repeatable): any of them' })),
  category: Type.Optional(Type.Array(Category, { maxItems: 50, description: 'stream categories (repeatable): any of them' })),
  tenant_id: Type.Optional(Type.String({ format: 'uuid' })),
  from: Type.Optional(Type.String({ format: 'date-time', description: 'inclusive lower bound on the time' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'exclusive upper bound on the time' })),
  time_field: Type.Enum(['occurred_at', 'recorded_at'], { default: 'occurred_at', description: 'the time from and to bound' }),
})

const EventParams = Type.Object({ event_id: Type.String({ format: 'uuid' }) })

/** 501 for a query the event store in use does not offer (KurrentDB: no categories, stream lists, …). */
async function inspecting<T>(reply: FastifyReply, answer: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await answer()
  } catch (error) {
    if (error instanceof InspectionUnsupported) return reply.status(501).send({ success: false, message: error.message })
    throw error
  }
}

/**
 * Stream inspection for platform administrators (`padm` in their token; tenant admins get 403,
 * anonymous callers 401 — checked before the parameters). Every event is shown in one snake_case
 * shape (infra/ops/streamInspection.ts: eventView), with who caused it (user id, name, email),
 * from where (ip, user agent), when (occurred_at, recorded_at), and its correlation and causation
 * ids. Nothing here changes state.
 */
export const adminStreamRoutes: FastifyPluginAsyncTypebox<AdminStreamRoutesOptions> = async (app, options) => {
  const { store } = options
  const describeUsers = options.describeUsers ?? userDescriber(store)
  const admin = { onRequest: app.requirePlatformAdmin }

  app.get('/api/admin/streams/categories/', { ...admin }, async (request, reply) =>
    inspecting(reply, async () => {
      const categories = await inspection(store, 'listCategories')()
      return { success: true, data: { results: categories, count: categories.length } }
    }),
  )

  app.get('/api/admin/streams/', { ...admin, schema: { querystring: StreamListQuery } }, async (request, reply) =>
    inspecting(reply, async () => {
      const { page, page_size: pageSize, category } = request.query
      const { streams, total } = await inspection(store, 'listStreams')({ category, offset: (page - 1) * pageSize, limit: pageSize })
      const results = streams.map(streamView)
      return { success: true, data: { results, ...pageLinks(request, page, pageSize, total) } }
    }),
  )

  app.get('/api/admin/streams/:stream/events/', { ...admin, schema: { params: StreamParams, querystring: StreamEventsQuery } }, async (request) => {
    const { direction, from_version: fromVersion, limit } = request.query
    const page = await readStreamPage(store, request.params.stream, { direction, fromVersion, limit })
    if (page.version < 0) throw new NotFound('Stream not found')
    return {
      success: true,
      data: {
        stream: page.stream,
        category: page.category,
        version: page.version,
        event_count: page.version + 1,
        direction: page.direction,
        results: await eventViews(page.events, describeUsers),
        next_from_version: page.nextFromVersion,
        previous_from_version: page.previousFromVersion,
      },
    }
  })

  app.get('/api/admin/events/', { ...admin, schema: { querystring: LogQuery } }, async (request, reply) =>
    inspecting(reply, async () => {
      const query = request.query
      const from = query.from === undefined ? undefined : new Date(query.from)
      const to = query.to === undefined ? undefined : new Date(query.to)
      if (from && to && from.getTime() >= to.getTime()) throw ValidationFailed.field('to', 'Must be later than from.')
      const slice = await readLogPage(store, {
        after: query.after,
        limit: query.limit,
        eventTypes: query.type,
        categories: query.category,
        tenantId: query.tenant_id?.toLowerCase(),
        from,
        to,
        timeField: query.time_field,
      })
      return {
        success: true,
        data: {
          results: await eventViews(slice.events, describeUsers),
          // where the next page starts; a page shorter than `limit` has reached the readable end of the log
          next_after: slice.scannedTo,
          has_more: slice.events.length === query.limit,
        },
      }
    }),
  )

  app.get('/api/admin/events/:event_id/', { ...admin, schema: { params: EventParams } }, async (request, reply) =>
    inspecting(reply, async () => {
      const event = await inspection(store, 'readEvent')(request.params.event_id.toLowerCase())
      if (!event) throw new NotFound('Event not found')
      const userId = event.metadata?.userId
      const users = userId ? await describeUsers([userId]) : undefined
      return { success: true, data: eventView(event, users) }
    }),
  )
}
