import { NotFound, invalidStatus } from '../../infra/errors.ts'
import { InvalidAppend, streamName, WrongExpectedVersion, type AppendRequest, type EventStore } from '../../infra/eventStore/eventStore.ts'
import { deterministicId, newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { executeCommand, expectedVersionOf, loadAggregate, toNewEvents, withConcurrencyRetry } from '../commandExecution.ts'
import { loadContactSnapshot } from '../conversations/contactSnapshot.ts'
import { conversationStream, loadTenantConversation } from '../conversations/conversationCommands.ts'
import { conversationDecider } from '../conversations/conversationDecider.ts'
import { fold } from '../decider.ts'
import { messageDecider, type ChannelName, type ExistingMessage, type MessageCommand, type MessageState, type StatusReport } from './messageDecider.ts'
import type { MessageEvent } from './messageEvents.ts'
import { creditAppend } from '../billing/smsCredits.ts'
import { billableParts } from './smsEncoding.ts'

export const messageStream = (messageId: string): string => streamName('message', messageId)

export interface MessageOutcome {
  message: ExistingMessage
  position: number
}

export interface ConversationMessageInput {
  conversationId: string
  content: string
  /** a fresh id unless the caller has one (a provider's webhook retried: the same message) */
  messageId?: string
}

function messageOf(state: MessageState): ExistingMessage {
  if (state.status === 'absent') throw new Error('message state is absent after a command that creates it')
  return state
}

/**
 * Appends the first event of a new message stream, with `alongside` (another aggregate's events
 * that must happen with it) in the same atomic append. A message id that is already taken is a
 * redelivery when that stream holds the same kind of message of the same tenant (answered with
 * the message as recorded, nothing appended), and a refusal otherwise. A conflict on another
 * stream is left to the caller.
 */
async function createMessage(
  store: EventStore,
  context: CommandContext,
  messageId: string,
  command: MessageCommand,
  alongside: AppendRequest[] = [],
): Promise<MessageOutcome & { created: boolean }> {
  const events = messageDecider.decide(command, messageDecider.initialState)
  try {
    // the message stream first: a race to create it is reported on the first stream
    const result = await store.append([{ streamName: messageStream(messageId), expectedVersion: 'no_stream', events: toNewEvents(events, context) }, ...alongside])
    return { message: messageOf(fold(messageDecider.evolve, messageDecider.initialState, events)), position: result.lastPosition, created: true }
  } catch (error) {
    if (!(error instanceof WrongExpectedVersion) || error.streamName !== messageStream(messageId)) throw error
    const existing = await loadAggregate(store, messageStream(messageId), messageDecider)
    const wanted = command.type === 'receiveInbound' ? 'inbound' : 'outbound'
    if (existing.state.status === 'absent' || existing.state.tenantId !== context.tenantId || existing.state.direction !== wanted) {
      throw invalidStatus('Message already exists', existing.state.status, ['absent'])
    }
    return { message: existing.state, position: existing.lastPosition, created: false }
  }
}

/**
 * Sends a message to the conversation's contact: refused when the conversation is closed, or the
 * contact opted out or was deleted.
 */
export async function queueOutboundMessage(store: EventStore, context: CommandContext, input: ConversationMessageInput): Promise<MessageOutcome & { created: boolean }> {
  const messageId = input.messageId ?? newId()
  return withConcurrencyRetry(async () => {
    const { state: conversation } = await loadTenantConversation(store, context.tenantId, input.conversationId)
    const contact = await loadContactSnapshot(store, context.tenantId, conversation.contactId)
    const command: MessageCommand = {
      type: 'queueOutbound',
      refs: { messageId, tenantId: context.tenantId, conversationId: conversation.conversationId, campaignId: null },
      conversationStatus: conversation.status,
      recipient: { contactId: contact.contactId, to: contact.phone, optedOut: contact.optedOut, deleted: contact.deleted },
      channel: conversation.channel,
      content: input.content,
      sentBy: context.actor,
      now: context.now,
    }
    // the message's refusals (opted out, closed conversation) come before the balance check
    messageDecider.decide(command, messageDecider.initialState)
    // an SMS spends its parts from the credit ledger in the same append that queues it
    const parts = conversation.channel === 'sms' ? billableParts('sms', input.content) : 0
    const credits = await creditAppend(store, context, { type: 'consume', parts, reference: { kind: 'message', id: messageId } })
    return createMessage(store, context, messageId, command, credits)
  })
}

/**
 * Records a reply from the conversation's contact, with the contact's current name and the
 * conversation's subject (what the activity feed shows). A reply is a fact: it is recorded even
 * when the contact opted out or was deleted since, and a reply to a closed conversation reopens
 * it, in the same atomic append (if the conversation changes meanwhile, all is done again).
 */
export async function receiveInboundMessage(
  store: EventStore,
  context: CommandContext,
  input: ConversationMessageInput & { from?: string | null },
): Promise<MessageOutcome & { created: boolean }> {
  const messageId = input.messageId ?? newId()
  return withConcurrencyRetry(async () => {
    const loaded = await loadTenantConversation(store, context.tenantId, input.conversationId)
    const conversation = loaded.state
    const contact = await loadContactSnapshot(store, context.tenantId, conversation.contactId)
    const reopen = conversationDecider.decide({ type: 'reopenForReply', messageId, receivedBy: context.actor, now: context.now }, conversation)
    const alongside: AppendRequest[] =
      reopen.length > 0
        ? [{ streamName: conversationStream(conversation.conversationId), expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(reopen, context) }]
        : []
    return createMessage(
      store,
      context,
      messageId,
      {
        type: 'receiveInbound',
        refs: { messageId, tenantId: context.tenantId, conversationId: conversation.conversationId, campaignId: null },
        sender: { contactId: contact.contactId, name: contact.name, from: input.from !== undefined ? input.from : contact.phone },
        conversationSubject: conversation.subject,
        channel: conversation.channel,
        content: input.content,
        now: context.now,
      },
      alongside,
    )
  })
}

/** A delivery report (or an operator) moves an outbound message along its statuses. */
export async function recordMessageStatus(
  store: EventStore,
  context: CommandContext,
  messageId: string,
  report: StatusReport,
): Promise<MessageOutcome & { events: MessageEvent[] }> {
  return runOnTenantMessage(store, context, messageId, { type: 'recordStatus', report, now: context.now })
}

/** Decides a command on one message of the caller's tenant (another tenant's: not found) and appends. */
async function runOnTenantMessage(
  store: EventStore,
  context: CommandContext,
  messageId: string,
  command: MessageCommand,
): Promise<MessageOutcome & { events: MessageEvent[] }> {
  const outcome = await executeCommand(
    store,
    messageDecider,
    messageStream(messageId),
    () => command,
    context,
    (state) => {
      if (state.status === 'absent' || state.tenantId !== context.tenantId) throw new NotFound('Message not found')
    },
  )
  return { message: messageOf(outcome.state), position: outcome.position, events: outcome.events }
}

export interface CampaignMessageInput {
  messageId: string
  campaignId: string
  contactId: string
  to: string
  channel: ChannelName
  content: string
}

/** The append that queues one campaign message: a new stream, event ids that follow from the message id. */
function campaignMessageAppend(context: CommandContext, input: CampaignMessageInput): AppendRequest {
  const events = messageDecider.decide(
    {
      type: 'queueOutbound',
      refs: { messageId: input.messageId, tenantId: context.tenantId, conversationId: null, campaignId: input.campaignId },
      conversationStatus: null,
      // the campaign resolved its recipients among opted-in, undeleted contacts when it started
      recipient: { contactId: input.contactId, to: input.to, optedOut: false, deleted: false },
      channel: input.channel,
      content: input.content,
      sentBy: context.actor,
      now: context.now,
    },
    messageDecider.initialState,
  )
  // the event id follows from the message id: the very same append retried is a duplicate, not a conflict
  const eventIds = events.map((_event, index) => deterministicId('message-event', input.messageId, String(index)))
  return { streamName: messageStream(input.messageId), expectedVersion: 'no_stream', events: toNewEvents(events, context, eventIds) }
}

/**
 * Queues one campaign message. The campaign sender chose the recipient among the campaign's
 * eligible contacts and derives `messageId` from the campaign and the contact, so running the
 * sender again after a crash finds the stream already there: that is success, `created: false`.
 */
export async function queueCampaignMessage(
  store: EventStore,
  context: CommandContext,
  input: CampaignMessageInput,
): Promise<{ created: boolean; position: number }> {
  try {
    const result = await store.append([campaignMessageAppend(context, input)])
    return { created: !result.duplicate, position: result.lastPosition }
  } catch (error) {
    if (!(error instanceof WrongExpectedVersion)) throw error
    const existing = await loadAggregate(store, messageStream(input.messageId), messageDecider)
    return { created: false, position: existing.lastPosition }
  }
}

/**
 * Queues several campaign messages in one atomic append (one round trip for the lot). When some of
 * them exist already (the sender runs again after a crash), the append is refused as a whole and
 * each message is queued on its own, the existing ones being success as above.
 */
export async function queueCampaignMessages(store: EventStore, context: CommandContext, inputs: readonly CampaignMessageInput[]): Promise<void> {
  if (inputs.length === 0) return
  try {
    await store.append(inputs.map((input) => campaignMessageAppend(context, input)))
  } catch (error) {
    // a stream there already, or some of the event ids recorded already (another runner of the
    // sender got part of the way): one at a time, where each of those is success
    if (!(error instanceof WrongExpectedVersion) && !(error instanceof InvalidAppend)) throw error
    for (const input of inputs) await queueCampaignMessage(store, context, input)
  }
}

/**
 * A queued message that will not be sent (its contact opted out or was deleted, its campaign
 * ended): messageCancelled. Cancelling a cancelled message again changes nothing; any other
 * status is INVALID_STATUS (it left already).
 */
export async function cancelQueuedMessage(
  store: EventStore,
  context: CommandContext,
  messageId: string,
  reason: string,
): Promise<MessageOutcome & { events: MessageEvent[] }> {
  return runOnTenantMessage(store, context, messageId, { type: 'cancel', reason, now: context.now })
}

/**
 * recordMessageStatus for a caller that has just loaded the message (the send processor): the
 * first try appends against the version it loaded, saving a read; when the stream moved meanwhile
 * (a delivery report got there first) it is the ordinary command, read anew.
 */
export async function recordLoadedMessageStatus(
  store: EventStore,
  context: CommandContext,
  loaded: { state: MessageState; version: number; lastPosition: number },
  report: StatusReport,
): Promise<MessageOutcome & { events: MessageEvent[] }> {
  const { state } = loaded
  if (state.status === 'absent' || state.tenantId !== context.tenantId) throw new NotFound('Message not found')
  const events = messageDecider.decide({ type: 'recordStatus', report, now: context.now }, state)
  if (events.length === 0) return { message: state, position: loaded.lastPosition, events }
  try {
    const result = await store.append([{ streamName: messageStream(state.messageId), expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(events, context) }])
    return { message: messageOf(events.reduce(messageDecider.evolve, state as MessageState)), position: result.lastPosition, events }
  } catch (error) {
    if (!(error instanceof WrongExpectedVersion)) throw error
    return recordMessageStatus(store, context, state.messageId, report)
  }
}

/** recordLoadedMessageStatus for the send processor, which needs only the events. */
export async function recordMessageStatusAfterLoad(
  store: EventStore,
  context: CommandContext,
  loaded: { state: MessageState; version: number; lastPosition: number },
  report: StatusReport,
): Promise<{ events: MessageEvent[] }> {
  const { events } = await recordLoadedMessageStatus(store, context, loaded, report)
  return { events }
}
