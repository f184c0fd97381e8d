import { NotFound } from '../../infra/errors.ts'
import { streamName, type EventStore } from '../../infra/eventStore/eventStore.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { executeCommand, loadAggregate, toNewEvents, type LoadedAggregate } from '../commandExecution.ts'
import { fold } from '../decider.ts'
import { loadUser } from '../users/registration.ts'
import { fullName } from '../users/userDecider.ts'
import { loadContactSnapshot } from './contactSnapshot.ts'
import {
  conversationDecider,
  type AssigneeCandidate,
  type AssignmentChange,
  type ChannelName,
  type ConversationCommand,
  type ConversationState,
  type ConversationStatus,
  type ExistingConversation,
} from './conversationDecider.ts'

export const conversationStream = (conversationId: string): string => streamName('conversation', conversationId)

export interface ConversationOutcome {
  conversation: ExistingConversation
  position: number
}

export interface StartConversationInput {
  contactId: string
  subject: string
  channel: ChannelName
}

export interface UpdateConversationInput {
  /** undefined: the status stays */
  status?: ConversationStatus
  /** undefined: the assignee stays; null: nobody */
  assignedTo?: string | null
}

function conversationOf(state: ConversationState): ExistingConversation {
  if (state.status === 'absent') throw new Error('conversation state is absent after a command that creates it')
  return state
}

/** The conversation, when it exists in the caller's tenant; anything else is "Conversation not found". */
export async function loadTenantConversation(store: EventStore, tenantId: string, conversationId: string): Promise<LoadedAggregate<ExistingConversation>> {
  const loaded = await loadAggregate(store, conversationStream(conversationId), conversationDecider)
  if (loaded.state.status === 'absent' || loaded.state.tenantId !== tenantId) throw new NotFound('Conversation not found')
  return { ...loaded, state: loaded.state }
}

/**
 * Starts a conversation with a contact of the caller's tenant. The event carries the contact's
 * name and phone as they are now, so the read side never has to look the contact up.
 */
export async function startConversation(store: EventStore, context: CommandContext, input: StartConversationInput): Promise<ConversationOutcome> {
  const contact = await loadContactSnapshot(store, context.tenantId, input.contactId)
  const conversationId = newId()
  const events = conversationDecider.decide(
    {
      type: 'startConversation',
      conversationId,
      tenantId: context.tenantId,
      contact,
      subject: input.subject,
      channel: input.channel,
      startedBy: context.actor,
      now: context.now,
    },
    conversationDecider.initialState,
  )
  const result = await store.append([{ streamName: conversationStream(conversationId), expectedVersion: 'no_stream', events: toNewEvents(events, context) }])
  return { conversation: conversationOf(fold(conversationDecider.evolve, conversationDecider.initialState, events)), position: result.lastPosition }
}

/** The user a PUT assigns, as the user's own stream tells: their display name and whether they belong to the tenant. */
async function assigneeCandidate(store: EventStore, tenantId: string, userId: string): Promise<AssigneeCandidate> {
  const user = await loadUser(store, userId)
  if (!user) return { userId, name: '', isMember: false }
  return { userId: user.userId, name: fullName(user), isMember: user.memberships.some((membership) => membership.tenantId === tenantId) }
}

/** PUT /conversations/{id}/: closes or reopens it, and/or assigns it to a member of the tenant (or nobody). */
export async function updateConversation(store: EventStore, context: CommandContext, conversationId: string, input: UpdateConversationInput): Promise<ConversationOutcome> {
  let assignment: AssignmentChange = { kind: 'keep' }
  if (input.assignedTo === null) assignment = { kind: 'unassign' }
  else if (input.assignedTo !== undefined) assignment = { kind: 'assign', candidate: await assigneeCandidate(store, context.tenantId, input.assignedTo) }
  const outcome = await executeCommand(
    store,
    conversationDecider,
    conversationStream(conversationId),
    (): ConversationCommand => ({ type: 'updateConversation', status: input.status ?? null, assignment, updatedBy: context.actor, now: context.now }),
    context,
    (state) => {
      if (state.status === 'absent' || state.tenantId !== context.tenantId) throw new NotFound('Conversation not found')
    },
  )
  return { conversation: conversationOf(outcome.state), position: outcome.position }
}
