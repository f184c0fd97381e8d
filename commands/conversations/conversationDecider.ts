import type { Static } from 'typebox'
import { invalidStatus, NotFound, ValidationFailed } from '../../infra/errors.ts'
import type { Actor } from '../commandContext.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { Channel } from '../eventParts.ts'
import type { ContactSnapshot } from './contactSnapshot.ts'
import type { ConversationEvent } from './conversationEvents.ts'

export type ChannelName = Static<typeof Channel>

/**
 * A conversation is open or closed. Users close and reopen it; a reply from the contact reopens
 * a closed one by itself (a reply is never turned away). Outbound messages go only into open
 * conversations (the message decider applies that rule with the status the handler read here).
 * While open, it can be assigned to a member of the tenant, or unassigned.
 */
export type ConversationStatus = 'open' | 'closed'

export interface Assignee {
  userId: string
  name: string
}

export interface ExistingConversation {
  status: ConversationStatus
  conversationId: string
  tenantId: string
  contactId: string
  /** the contact's name and phone when the conversation started */
  contactName: string
  contactPhone: string | null
  subject: string
  channel: ChannelName
  startedBy: Actor
  assignedTo: Assignee | null
  createdAt: string
  /** the time of the conversation's last event (its messages are streams of their own) */
  updatedAt: string
}

export type ConversationState = { status: 'absent' } | ExistingConversation

/** The user a PUT names as assignee, as the handler found them (the decider reads no stream). */
export interface AssigneeCandidate {
  userId: string
  /** display name; empty when the user does not exist */
  name: string
  /** the user belongs to the conversation's tenant */
  isMember: boolean
}

export type AssignmentChange = { kind: 'keep' } | { kind: 'unassign' } | { kind: 'assign'; candidate: AssigneeCandidate }

export type ConversationCommand =
  | {
      type: 'startConversation'
      conversationId: string
      tenantId: string
      contact: ContactSnapshot
      subject: string
      channel: ChannelName
      startedBy: Actor
      now: Date
    }
  | {
      type: 'updateConversation'
      /** null: the status stays as it is */
      status: ConversationStatus | null
      assignment: AssignmentChange
      updatedBy: Actor
      now: Date
    }
  | {
      /** a reply arrived: a closed conversation opens again, in the same append as the reply */
      type: 'reopenForReply'
      messageId: string
      receivedBy: Actor
      now: Date
    }

export const OPEN_ONLY = ['open'] as const satisfies readonly ConversationStatus[]

const actorData = (actor: Actor): Actor => ({ userId: actor.userId, name: actor.name })

function existing(state: ConversationState): ExistingConversation {
  if (state.status === 'absent') throw new NotFound('Conversation not found')
  return state
}

function refsOf(conversation: ExistingConversation) {
  return { conversationId: conversation.conversationId, tenantId: conversation.tenantId, subject: conversation.subject }
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
        startedBy: actorData(command.startedBy),
        at: command.now.toISOString(),
      },
    },
  ]
}

function assignmentEvents(
  conversation: ExistingConversation,
  assignment: AssignmentChange,
  by: Actor,
  at: string,
): ConversationEvent[] {
  const refs = refsOf(conversation)
  const current = conversation.assignedTo
  switch (assignment.kind) {
    case 'keep':
      return []
    case 'unassign':
      return current ? [{ type: 'conversationUnassigned', data: { ...refs, previousAssignee: current, unassignedBy: actorData(by), at } }] : []
    case 'assign': {
      const { candidate } = assignment
      if (current?.userId === candidate.userId) return []
      return [
        {
          type: 'conversationAssigned',
          data: { ...refs, assignee: { userId: candidate.userId, name: candidate.name }, previousAssignee: current, assignedBy: actorData(by), at },
        },
      ]
    }
    default:
      return unreachable(assignment)
  }
}

/**
 * Sets the status and/or the assignee; what is already so changes nothing (a PUT repeated is no
 * event). The assignee must belong to the tenant. The assignee of a closed conversation cannot
 * change unless the same request reopens it; closing keeps the assignee. Order: an assignment
 * happens while the conversation is open (reopen, then assign; assign, then close).
 */
function updateConversation(command: Extract<ConversationCommand, { type: 'updateConversation' }>, state: ConversationState): ConversationEvent[] {
  const conversation = existing(state)
  const { assignment } = command
  if (assignment.kind === 'assign' && !assignment.candidate.isMember) {
    throw ValidationFailed.field('assigned_to', 'User is not a member of this tenant.')
  }
  const at = command.now.toISOString()
  const target = command.status ?? conversation.status
  const assigning = assignmentEvents(conversation, assignment, command.updatedBy, at)
  if (assigning.length > 0 && conversation.status === 'closed' && target === 'closed') {
    throw invalidStatus('The assignee of a closed conversation cannot change', conversation.status, OPEN_ONLY)
  }
  const refs = refsOf(conversation)
  if (conversation.status === 'closed' && target === 'open') {
    return [{ type: 'conversationReopened', data: { ...refs, trigger: 'user', messageId: null, reopenedBy: actorData(command.updatedBy), at } }, ...assigning]
  }
  if (conversation.status === 'open' && target === 'closed') {
    return [...assigning, { type: 'conversationClosed', data: { ...refs, closedBy: actorData(command.updatedBy), at } }]
  }
  return assigning
}

function reopenForReply(command: Extract<ConversationCommand, { type: 'reopenForReply' }>, state: ConversationState): ConversationEvent[] {
  const conversation = existing(state)
  if (conversation.status === 'open') return []
  return [
    {
      type: 'conversationReopened',
      data: {
        ...refsOf(conversation),
        trigger: 'inbound_message',
        messageId: command.messageId,
        reopenedBy: actorData(command.receivedBy),
        at: command.now.toISOString(),
      },
    },
  ]
}

export function decide(command: ConversationCommand, state: ConversationState): ConversationEvent[] {
  switch (command.type) {
    case 'startConversation':
      return startConversation(command, state)
    case 'updateConversation':
      return updateConversation(command, state)
    case 'reopenForReply':
      return reopenForReply(command, state)
    default:
      return unreachable(command)
  }
}

function whenExisting(state: ConversationState, change: (conversation: ExistingConversation) => ExistingConversation): ConversationState {
  return state.status === 'absent' ? state : change(state)
}

export function evolve(state: ConversationState, event: ConversationEvent): ConversationState {
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
        assignedTo: null,
        createdAt: event.data.at,
        updatedAt: event.data.at,
      }
    case 'conversationClosed':
      return whenExisting(state, (conversation) => ({ ...conversation, status: 'closed', updatedAt: event.data.at }))
    case 'conversationReopened':
      return whenExisting(state, (conversation) => ({ ...conversation, status: 'open', updatedAt: event.data.at }))
    case 'conversationAssigned':
      return whenExisting(state, (conversation) => ({ ...conversation, assignedTo: event.data.assignee, updatedAt: event.data.at }))
    case 'conversationUnassigned':
      return whenExisting(state, (conversation) => ({ ...conversation, assignedTo: null, updatedAt: event.data.at }))
    default:
      return unreachable(event)
  }
}

export const conversationDecider: Decider<ConversationCommand, ConversationEvent, ConversationState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}
