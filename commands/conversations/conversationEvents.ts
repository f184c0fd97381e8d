import { Type, type Static } from 'typebox'
import { ActorData, Channel } from '../eventParts.ts'

export const ConversationStarted = Type.Object({
  type: Type.Literal('conversationStarted'),
  data: Type.Object({
    conversationId: Type.String(),
    tenantId: Type.String(),
    contactId: Type.String(),
    contactName: Type.String(),
    contactPhone: Type.Union([Type.String(), Type.Null()]),
    subject: Type.String(),
    channel: Channel,
    startedBy: ActorData,
    at: Type.String(),
  }),
})

export const ConversationEvent = Type.Union([ConversationStarted])
export type ConversationEvent = Static<typeof ConversationEvent>
