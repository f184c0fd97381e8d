import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import { ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { commandContextOf, replyWithPosition } from '../httpCommand.ts'
import { startConversation, updateConversation } from './conversationCommands.ts'
import { conversationView } from './conversationView.ts'

export interface ConversationRoutesOptions {
  store: EventStore
  clock: Clock
}

const ConversationParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

const StartConversationBody = Type.Object({
  contact_id: Type.String({ format: 'uuid' }),
  subject: Type.String({ minLength: 1, maxLength: 200 }),
  channel: Type.Optional(Type.Enum(['sms', 'whatsapp'], { default: 'sms' })),
})

/** PUT /conversations/{id}/: what is given changes, what is left out stays. */
const UpdateConversationBody = Type.Object({
  status: Type.Optional(Type.Enum(['open', 'closed'])),
  /** a member of the tenant, or null for nobody */
  assigned_to: Type.Optional(Type.Union([Type.String({ format: 'uuid' }), Type.Null()])),
})

/** Conversation commands. GET /conversations/ and /conversations/{id}/ are queries (queries/conversationRoutes.ts). */
export const conversationRoutes: FastifyPluginAsyncTypebox<ConversationRoutesOptions> = async (app, { store, clock }) => {
  app.addHook('preHandler', app.authenticate)

  app.post('/api/messaging/conversations/', { schema: { body: StartConversationBody }, config: { idempotent: true } }, async (request, reply) => {
    const subject = request.body.subject.trim()
    if (!subject) throw ValidationFailed.field('subject', 'This field may not be blank.')
    const outcome = await startConversation(store, commandContextOf(request, clock), {
      contactId: request.body.contact_id.toLowerCase(),
      subject,
      channel: request.body.channel ?? 'sms',
    })
    return replyWithPosition(reply, 201, outcome.position, { success: true, data: conversationView(outcome.conversation) })
  })

  app.put('/api/messaging/conversations/:id/', { schema: { params: ConversationParams, body: UpdateConversationBody } }, async (request, reply) => {
    const { status, assigned_to: assignedTo } = request.body
    if (status === undefined && assignedTo === undefined) {
      throw new ValidationFailed({ non_field_errors: ['Give at least one of: status, assigned_to.'] })
    }
    const outcome = await updateConversation(store, commandContextOf(request, clock), request.params.id.toLowerCase(), {
      status,
      assignedTo: assignedTo === undefined || assignedTo === null ? assignedTo : assignedTo.toLowerCase(),
    })
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Conversation updated successfully',
      data: conversationView(outcome.conversation),
    })
  })
}
