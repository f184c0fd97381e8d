import { Type, type Static } from 'typebox'
import { ActorData, Channel, NullableString } from '../eventParts.ts'

/** Every conversation event names its conversation, tenant and subject (what a reader shows). */
const ConversationRefs = {
  conversationId: Type.String(),
  tenantId: Type.String(),
  subject: Type.String(),
}

/** A user of the tenant a conversation is assigned to, by id and display name. */
export const Assignee = Type.Object({ userId: Type.String(), name: Type.String() })

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

export const ConversationClosed = Type.Object({
  type: Type.Literal('conversationClosed'),
  data: Type.Object({
    ...ConversationRefs,
    closedBy: ActorData,
    at: Type.String(),
  }),
})

/**
 * A closed conversation is open again: a user reopened it (`trigger: 'user'`), or the contact
 * replied (`trigger: 'inbound_message'`, appended together with that message, `messageId`).
 */
export const ConversationReopened = Type.Object({
  type: Type.Literal('conversationReopened'),
  data: Type.Object({
    ...ConversationRefs,
    trigger: Type.Union([Type.Literal('user'), Type.Literal('inbound_message')]),
    messageId: NullableString,
    reopenedBy: ActorData,
    at: Type.String(),
  }),
})

/** The conversation is handed to a member of the tenant (replacing the previous assignee, if any). */
export const ConversationAssigned = Type.Object({
  type: Type.Literal('conversationAssigned'),
  data: Type.Object({
    ...ConversationRefs,
    assignee: Assignee,
    previousAssignee: Type.Union([Assignee, Type.Null()]),
    assignedBy: ActorData,
    at: Type.String(),
  }),
})

/** Nobody is assigned to the conversation any more. */
export const ConversationUnassigned = Type.Object({
  type: Type.Literal('conversationUnassigned'),
  data: Type.Object({
    ...ConversationRefs,
    previousAssignee: Assignee,
    unassignedBy: ActorData,
    at: Type.String(),
  }),
})

export const ConversationEvent = Type.Union([ConversationStarted, ConversationClosed, ConversationReopened, ConversationAssigned, ConversationUnassigned])
export type ConversationEvent = Static<typeof ConversationEvent>
