import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import { NotFound } from '../infra/errors.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { findMessage, listMessages, messageHistory, type MessageHistoryTables, type MessageRow } from '../projections/messageHistory.ts'
import { PageQuery, pageLinks } from './pagination.ts'
import { awaitPosition, MinPosition } from './readYourWrites.ts'

export interface MessageListRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  readYourWritesTimeoutMs: number
}

const MessageListQuery = Type.Object({
  conversation_id: Type.Optional(Type.String({ format: 'uuid' })),
  campaign_id: Type.Optional(Type.String({ format: 'uuid' })),
  direction: Type.Optional(Type.Enum(['outbound', 'inbound'])),
  status: Type.Optional(Type.Enum(['queued', 'sent', 'delivered', 'read', 'failed', 'received'])),
  ...PageQuery,
  min_position: MinPosition,
})

const MessageParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const DetailQuery = Type.Object({ min_position: MinPosition })

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString())

export function messageRowView(row: MessageRow) {
  return {
    id: row.message_id,
    conversation_id: row.conversation_id,
    campaign_id: row.campaign_id,
    contact_id: row.contact_id,
    direction: row.direction,
    channel: row.channel,
    content: row.content,
    status: row.status,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    sent_at: iso(row.sent_at),
    delivered_at: iso(row.delivered_at),
    read_at: iso(row.read_at),
    failed_at: iso(row.failed_at),
    failure_reason: row.failure_reason,
  }
}

export const messageListRoutes: FastifyPluginAsyncTypebox<MessageListRoutesOptions> = async (app, { db, engine, readYourWritesTimeoutMs }) => {
  const history = readModel<MessageHistoryTables>(db, messageHistory)
  app.addHook('preHandler', app.authenticate)

  app.get('/api/messaging/messages/', { schema: { querystring: MessageListQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const { page, page_size: pageSize } = request.query
    await awaitPosition(engine, reply, [messageHistory.name], request.query.min_position, readYourWritesTimeoutMs)
    const { rows, count } = await listMessages(
      history,
      {
        tenantId,
        conversationId: request.query.conversation_id?.toLowerCase(),
        campaignId: request.query.campaign_id?.toLowerCase(),
        direction: request.query.direction,
        status: request.query.status,
      },
      page,
      pageSize,
    )
    return { success: true, data: { results: rows.map(messageRowView), ...pageLinks(request, page, pageSize, count) } }
  })

  app.get('/api/messaging/messages/:id/', { schema: { params: MessageParams, querystring: DetailQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [messageHistory.name], request.query.min_position, readYourWritesTimeoutMs)
    const row = await findMessage(history, tenantId, request.params.id.toLowerCase())
    if (!row) throw new NotFound('Message not found')
    return { success: true, data: messageRowView(row) }
  })
}
