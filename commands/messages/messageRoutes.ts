import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import { ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { commandContextOf, replyWithPosition } from '../httpCommand.ts'
import { queueOutboundMessage, receiveInboundMessage, recordMessageStatus } from './messageCommands.ts'
import type { StatusReport } from './messageDecider.ts'
import { messageView } from './messageView.ts'

export interface MessageRoutesOptions {
  store: EventStore
  clock: Clock
}

const MessageParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

const SendMessageBody = Type.Object({
  conversation_id: Type.String({ format: 'uuid' }),
  content: Type.String({ minLength: 1, maxLength: 4096 }),
  direction: Type.Optional(Type.Enum(['outbound', 'inbound'], { default: 'outbound' })),
})

const StatusBody = Type.Object({
  status: Type.Enum(['sent', 'delivered', 'read', 'failed']),
  reason: Type.Optional(Type.String({ maxLength: 500 })),
  provider_message_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
})

export const messageRoutes: FastifyPluginAsyncTypebox<MessageRoutesOptions> = async (app, { store, clock }) => {
  app.addHook('preHandler', app.authenticate)

  app.post('/api/messaging/messages/', { schema: { body: SendMessageBody }, config: { rateLimit: 'sms_send', idempotent: true } }, async (request, reply) => {
    const { content } = request.body
    const conversationId = request.body.conversation_id.toLowerCase()
    if (!content.trim()) throw ValidationFailed.field('content', 'This field may not be blank.')
    const context = commandContextOf(request, clock)
    const outcome =
      (request.body.direction ?? 'outbound') === 'outbound'
        ? await queueOutboundMessage(store, context, { conversationId, content })
        : await receiveInboundMessage(store, context, { conversationId, content })
    return replyWithPosition(reply, 201, outcome.position, { success: true, data: messageView(outcome.message) })
  })

  app.post('/api/messaging/messages/:id/status/', { schema: { params: MessageParams, body: StatusBody } }, async (request, reply) => {
    const { status, provider_message_id: providerMessageId = null } = request.body
    let report: StatusReport
    if (status === 'failed') {
      const reason = request.body.reason?.trim()
      if (!reason) throw ValidationFailed.field('reason', 'This field is required when the status is failed.')
      report = { status, reason, providerMessageId }
    } else {
      report = { status, providerMessageId }
    }
    const outcome = await recordMessageStatus(store, commandContextOf(request, clock), request.params.id.toLowerCase(), report)
    return replyWithPosition(reply, 200, outcome.position, { success: true, data: messageView(outcome.message) })
  })
}
