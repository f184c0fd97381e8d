import { Type, type Static } from 'typebox'
import { ActorData, Channel, NullableString } from '../eventParts.ts'

/**
 * One stream per message (`message-<id>`). Every event repeats the message's conversation and
 * campaign ids, so a projection can count outcomes per conversation or campaign by itself.
 */
const MessageRefs = {
  messageId: Type.String(),
  tenantId: Type.String(),
  conversationId: NullableString,
  campaignId: NullableString,
}

/** An outbound message accepted for sending (from a conversation, a campaign or POST /sms/send). */
export const OutboundMessageQueued = Type.Object({
  type: Type.Literal('outboundMessageQueued'),
  data: Type.Object({
    ...MessageRefs,
    contactId: Type.String(),
    to: NullableString,
    channel: Channel,
    content: Type.String(),
    sentBy: ActorData,
    at: Type.String(),
    /** POST /sms/send: the request (batch) that queued it, and the sender id it asked for */
    batchId: Type.Optional(Type.String()),
    senderId: Type.Optional(NullableString),
  }),
})

/** A reply from a contact; carries the names the activity feed shows. */
export const InboundMessageReceived = Type.Object({
  type: Type.Literal('inboundMessageReceived'),
  data: Type.Object({
    ...MessageRefs,
    contactId: Type.String(),
    contactName: Type.String(),
    conversationSubject: Type.String(),
    from: NullableString,
    channel: Channel,
    content: Type.String(),
    at: Type.String(),
  }),
})

export const MessageSent = Type.Object({
  type: Type.Literal('messageSent'),
  data: Type.Object({ ...MessageRefs, providerMessageId: NullableString, at: Type.String() }),
})

export const MessageDelivered = Type.Object({
  type: Type.Literal('messageDelivered'),
  data: Type.Object({ ...MessageRefs, at: Type.String() }),
})

export const MessageRead = Type.Object({
  type: Type.Literal('messageRead'),
  data: Type.Object({ ...MessageRefs, at: Type.String() }),
})

export const MessageFailed = Type.Object({
  type: Type.Literal('messageFailed'),
  data: Type.Object({ ...MessageRefs, reason: Type.String(), at: Type.String() }),
})

/**
 * A queued message that will not be sent: its contact opted out or was deleted before it left,
 * or its campaign was cancelled or ended first. Final, like failed, but never handed to a provider.
 */
export const MessageCancelled = Type.Object({
  type: Type.Literal('messageCancelled'),
  data: Type.Object({ ...MessageRefs, reason: Type.String(), at: Type.String() }),
})

export const MessageEvent = Type.Union([OutboundMessageQueued, InboundMessageReceived, MessageSent, MessageDelivered, MessageRead, MessageFailed, MessageCancelled])
export type MessageEvent = Static<typeof MessageEvent>

export type MessageStatus = 'queued' | 'sent' | 'delivered' | 'read' | 'failed' | 'cancelled' | 'received'
