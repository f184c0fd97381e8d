import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import type { ConversationView } from '../commands/conversations/conversationView.ts'
import { NotFound } from '../infra/errors.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { conversationInbox, findConversation, listConversations, type ConversationInboxTables, type ConversationRow } from '../projections/conversationInbox.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { listMessages, messageHistory, type MessageHistoryTables } from '../projections/messageHistory.ts'
import { messageRowView } from './messageListRoutes.ts'
import { PageQuery, pageLinks } from './pagination.ts'
import { awaitPosition, MinPosition } from './readYourWrites.ts'

export interface ConversationQueryRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  readYourWritesTimeoutMs: number
}

const ConversationListQuery = Type.Object({
  status: Type.Optional(Type.Enum(['open', 'closed'])),
  contact_id: Type.Optional(Type.String({ format: 'uuid' })),
  assigned_to: Type.Optional(Type.String({ format: 'uuid' })),
  search: Type.Optional(Type.String({ maxLength: 200 })),
  ...PageQuery,
  min_position: MinPosition,
})

const ConversationParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const DetailQuery = Type.Object({ min_position: MinPosition })
const ConversationMessagesQuery = Type.Object({ ...PageQuery, min_position: MinPosition })

/** A conversation in the list and detail: the command answers' fields plus what its messages add up to. */
export interface ConversationRowView extends ConversationView {
  message_count: number
  unread_count: number
  last_message_at: string | null
  last_message_preview: string | null
}

const iso = (value: Date | string): string => new Date(value).toISOString()

export function conversationRowView(row: ConversationRow): ConversationRowView {
  return {
    id: row.conversation_id,
    contact_id: row.contact_id,
    contact_name: row.contact_name,
    contact_phone: row.contact_phone,
    subject: row.subject,
    channel: row.channel,
    status: row.status,
    assigned_to: row.assigned_to,
    assigned_to_name: row.assigned_to_name,
    message_count: row.message_count,
    unread_count: row.unread_count,
    last_message_at: row.last_message_at === null ? null : iso(row.last_message_at),
    last_message_preview: row.last_message_preview,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  }
}

export const conversationQueryRoutes: FastifyPluginAsyncTypebox<ConversationQueryRoutesOptions> = async (app, { db, engine, readYourWritesTimeoutMs }) => {
  const inbox = readModel<ConversationInboxTables>(db, conversationInbox)
  const history = readModel<MessageHistoryTables>(db, messageHistory)
  app.addHook('preHandler', app.authenticate)

  app.get('/api/messaging/conversations/', { schema: { querystring: ConversationListQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const { page, page_size: pageSize } = request.query
    await awaitPosition(engine, reply, [conversationInbox.name], request.query.min_position, readYourWritesTimeoutMs)
    const { rows, count } = await listConversations(
      inbox,
      {
        tenantId,
        status: request.query.status,
        contactId: request.query.contact_id?.toLowerCase(),
        assignedTo: request.query.assigned_to?.toLowerCase(),
        search: request.query.search,
      },
      page,
      pageSize,
    )
    return { success: true, data: { results: rows.map(conversationRowView), ...pageLinks(request, page, pageSize, count) } }
  })

  app.get('/api/messaging/conversations/:id/', { schema: { params: ConversationParams, querystring: DetailQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [conversationInbox.name], request.query.min_position, readYourWritesTimeoutMs)
    const row = await findConversation(inbox, tenantId, request.params.id.toLowerCase())
    if (!row) throw new NotFound('Conversation not found')
    return { success: true, data: conversationRowView(row) }
  })

  /** The conversation's messages, oldest first, in the rows of GET /messages/. */
  app.get('/api/messaging/conversations/:id/messages/', { schema: { params: ConversationParams, querystring: ConversationMessagesQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const { page, page_size: pageSize } = request.query
    const conversationId = request.params.id.toLowerCase()
    await awaitPosition(engine, reply, [conversationInbox.name, messageHistory.name], request.query.min_position, readYourWritesTimeoutMs)
    if (!(await findConversation(inbox, tenantId, conversationId))) throw new NotFound('Conversation not found')
    const { rows, count } = await listMessages(history, { tenantId, conversationId }, page, pageSize)
    return { success: true, data: { results: rows.map(messageRowView), ...pageLinks(request, page, pageSize, count) } }
  })
}
