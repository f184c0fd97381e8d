import { NotFound } from '../../infra/errors.ts'
import { streamName, type EventStore } from '../../infra/eventStore/eventStore.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { loadAggregate, toNewEvents, type LoadedAggregate } from '../commandExecution.ts'
import { fold } from '../decider.ts'
import { loadContactSnapshot } from './contactSnapshot.ts'
import { conversationDecider, type ChannelName, type ConversationState, type OpenConversation } from './conversationDecider.ts'

export const conversationStream = (conversationId: string): string => streamName('conversation', conversationId)

export interface ConversationOutcome {
  conversation: OpenConversation
  position: number
}

export interface StartConversationInput {
  contactId: string
  subject: string
  channel: ChannelName
}

function conversationOf(state: ConversationState): OpenConversation {
  if (state.status === 'absent') throw new Error('conversation state is absent after a command that creates it')
  return state
}

/** The conversation, when it exists in the caller's tenant; anything else is "Conversation not found". */
export async function loadTenantConversation(store: EventStore, tenantId: string, conversationId: string): Promise<LoadedAggregate<OpenConversation>> {
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
