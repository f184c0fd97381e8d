import type { Static } from 'typebox'
import { invalidStatus, NotFound } from '../../infra/errors.ts'
import type { Actor } from '../commandContext.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { Channel } from '../eventParts.ts'
import type { ContactSnapshot } from './contactSnapshot.ts'
import type { ConversationEvent } from './conversationEvents.ts'

export type ChannelName = Static<typeof Channel>

export interface OpenConversation {
  status: 'open'
  conversationId: string
  tenantId: string
  contactId: string
  /** the contact's name and phone when the conversation started */
  contactName: string
  contactPhone: string | null
  subject: string
  channel: ChannelName
  startedBy: Actor
  createdAt: string
  updatedAt: string
}

export type ConversationState = { status: 'absent' } | OpenConversation

export type ConversationCommand = {
  type: 'startConversation'
  conversationId: string
  tenantId: string
  contact: ContactSnapshot
  subject: string
  channel: ChannelName
  startedBy: Actor
  now: Date
}

function startConversation(command: Extract<ConversationCommand, { type: 'startConversation' }>, state: ConversationState): ConversationEvent[] {
  if (state.status !== 'absent') throw invalidStatus('Conversation already exists', state.status, ['absent'])
  if (command.contact.deleted) throw new NotFound('Contact not found')
  return [
    {
      type: 'conversationStarted',
      data: {
        conversationId: command.conversationId,
        tenantId: command.tenantId,
        contactId: command.contact.contactId,
        contactName: command.contact.name,
        contactPhone: command.contact.phone,
        subject: command.subject,
        channel: command.channel,
        startedBy: { userId: command.startedBy.userId, name: command.startedBy.name },
        at: command.now.toISOString(),
      },
    },
  ]
}

export function decide(command: ConversationCommand, state: ConversationState): ConversationEvent[] {
  switch (command.type) {
    case 'startConversation':
      return startConversation(command, state)
    default:
      return unreachable(command.type)
  }
}

export function evolve(_state: ConversationState, event: ConversationEvent): ConversationState {
  switch (event.type) {
    case 'conversationStarted':
      return {
        status: 'open',
        conversationId: event.data.conversationId,
        tenantId: event.data.tenantId,
        contactId: event.data.contactId,
        contactName: event.data.contactName,
        contactPhone: event.data.contactPhone,
        subject: event.data.subject,
        channel: event.data.channel,
        startedBy: event.data.startedBy,
        createdAt: event.data.at,
        updatedAt: event.data.at,
      }
    default:
      return unreachable(event.type)
  }
}

export const conversationDecider: Decider<ConversationCommand, ConversationEvent, ConversationState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}
