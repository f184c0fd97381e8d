import { invalidStatus, ValidationFailed } from '../../infra/errors.ts'
import { WrongExpectedVersion, type EventStore } from '../../infra/eventStore/eventStore.ts'
import { deterministicId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { loadAggregate, toNewEvents } from '../commandExecution.ts'
import { upsertContact } from '../contacts/contactCommands.ts'
import { normalizePhone, type CountryCode } from '../contacts/phoneNumber.ts'
import { loadContactSnapshot } from '../conversations/contactSnapshot.ts'
import { conversationStream, loadTenantConversation } from '../conversations/conversationCommands.ts'
import { conversationDecider } from '../conversations/conversationDecider.ts'
import { messageStream, receiveInboundMessage } from '../messages/messageCommands.ts'
import { messageDecider } from '../messages/messageDecider.ts'
import type { OpenConversationFinder } from './smsPorts.ts'

export interface InboundSmsInput {
  providerMessageId: string
  /** the sender's number as the provider gives it */
  from: string
  text: string
}

export interface InboundSmsOutcome {
  messageId: string
  conversationId: string
  contactId: string
  /** false when this provider message was recorded before (a redelivered webhook): nothing appended */
  created: boolean
  position: number
}

/** The id of the message an inbound SMS becomes: the same provider message is always the same message. */
export const inboundSmsMessageId = (tenantId: string, providerMessageId: string): string => deterministicId('inbound-sms', tenantId, providerMessageId)

/**
 * An SMS from a contact, as the system records it (the context's actor is the system):
 * 1. a provider message recorded before answers what it became, and appends nothing;
 * 2. the sender is the tenant's contact with that number (read in the tenant's country), or a new
 *    contact named after the number (source api) — upsertContact settles races on the number;
 * 3. the reply goes into the contact's newest open SMS conversation, or a new one ("SMS from
 *    <number>", started by the system, its id derived from the provider message so a retry after a
 *    crash finds it instead of starting another);
 * 4. receiveInboundMessage records it like any reply (a conversation_reply activity), under an id
 *    derived from the provider message id.
 */
export async function receiveInboundSms(
  store: EventStore,
  context: CommandContext,
  conversations: OpenConversationFinder,
  country: CountryCode,
  input: InboundSmsInput,
): Promise<InboundSmsOutcome> {
  const messageId = inboundSmsMessageId(context.tenantId, input.providerMessageId)
  const earlier = await loadAggregate(store, messageStream(messageId), messageDecider)
  if (earlier.state.status !== 'absent') {
    const message = earlier.state
    if (message.tenantId !== context.tenantId || message.direction !== 'inbound' || !message.conversationId) {
      throw invalidStatus('Message already exists', message.status, ['absent'])
    }
    return { messageId, conversationId: message.conversationId, contactId: message.contactId, created: false, position: earlier.lastPosition }
  }

  const phone = normalizePhone(input.from, country)
  if (!phone) throw ValidationFailed.field('from', 'Enter a valid phone number.')
  const { contact } = await upsertContact(store, context, { phone, email: null, changes: { phone } })

  const conversationId = (await conversations.newestOpen(context.tenantId, contact.contactId, 'sms')) ?? (await startSmsConversation(store, context, contact.contactId, phone, input.providerMessageId))
  const outcome = await receiveInboundMessage(store, context, { conversationId, content: input.text, messageId, from: phone })
  return { messageId, conversationId, contactId: contact.contactId, created: outcome.created, position: outcome.position }
}

/** Starts the SMS conversation an inbound message opens; one that exists already (a retry) is used as it is. */
async function startSmsConversation(store: EventStore, context: CommandContext, contactId: string, phone: string, providerMessageId: string): Promise<string> {
  const conversationId = deterministicId('inbound-sms-conversation', context.tenantId, providerMessageId)
  const contact = await loadContactSnapshot(store, context.tenantId, contactId)
  const events = conversationDecider.decide(
    {
      type: 'startConversation',
      conversationId,
      tenantId: context.tenantId,
      contact,
      subject: `SMS from ${phone}`,
      channel: 'sms',
      startedBy: context.actor,
      now: context.now,
    },
    conversationDecider.initialState,
  )
  try {
    await store.append([{ streamName: conversationStream(conversationId), expectedVersion: 'no_stream', events: toNewEvents(events, context) }])
  } catch (error) {
    if (!(error instanceof WrongExpectedVersion)) throw error
    // started by an earlier try of this very message: it must be this tenant's
    await loadTenantConversation(store, context.tenantId, conversationId)
  }
  return conversationId
}
