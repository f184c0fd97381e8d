import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import { ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { commandContextOf, replyWithPosition } from '../httpCommand.ts'
import { startConversation } from './conversationCommands.ts'
import { conversationView } from './conversationView.ts'

export interface ConversationRoutesOptions {
  store: EventStore
  clock: Clock
}

const StartConversationBody = Type.Object({
  contact_id: Type.String({ format: 'uuid' }),
  subject: Type.String({ minLength: 1, maxLength: 200 }),
  channel: Type.Optional(Type.Enum(['sms', 'whatsapp'], { default: 'sms' })),
})

export const conversationRoutes: FastifyPluginAsyncTypebox<ConversationRoutesOptions> = async (app, { store, clock }) => {
  app.addHook('preHandler', app.authenticate)

  app.post('/api/messaging/conversations/', { schema: { body: StartConversationBody } }, async (request, reply) => {
    const subject = request.body.subject.trim()
    if (!subject) throw ValidationFailed.field('subject', 'This field may not be blank.')
    const outcome = await startConversation(store, commandContextOf(request, clock), {
      contactId: request.body.contact_id,
      subject,
      channel: request.body.channel ?? 'sms',
    })
    return replyWithPosition(reply, 201, outcome.position, { success: true, data: conversationView(outcome.conversation) })
  })
}
