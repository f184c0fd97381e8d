import type { Static } from 'typebox'
import { BusinessRuleViolation, invalidStatus, NotFound } from '../../infra/errors.ts'
import type { Actor } from '../commandContext.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { Channel } from '../eventParts.ts'
import type { MessageEvent } from './messageEvents.ts'

export type ChannelName = Static<typeof Channel>

export type OutboundStatus = 'queued' | 'sent' | 'delivered' | 'read' | 'failed' | 'cancelled'
/** The statuses a delivery report can announce. */
export type ReportedStatus = Exclude<OutboundStatus, 'queued' | 'cancelled'>

interface MessageCommon {
  messageId: string
  tenantId: string
  conversationId: string | null
  campaignId: string | null
  contactId: string
  channel: ChannelName
  content: string
  createdAt: string
  updatedAt: string
}

export interface OutboundMessage extends MessageCommon {
  direction: 'outbound'
  status: OutboundStatus
  to: string | null
  sentBy: Actor
  providerMessageId: string | null
  sentAt: string | null
  deliveredAt: string | null
  readAt: string | null
  failedAt: string | null
  failureReason: string | null
  cancelledAt: string | null
  cancellationReason: string | null
  /** POST /sms/send: the request that queued it (null for conversation and campaign messages) */
  batchId: string | null
  /** the sender id the request asked for; null: the provider's default */
  senderId: string | null
}

export interface InboundMessage extends MessageCommon {
  direction: 'inbound'
  status: 'received'
  from: string | null
  contactName: string
  conversationSubject: string
}

export type ExistingMessage = OutboundMessage | InboundMessage

export type MessageState = { status: 'absent' } | ExistingMessage

/** The message's place in the world: a conversation, a campaign, or (later) both. */
export interface MessageRefs {
  messageId: string
  tenantId: string
  conversationId: string | null
  campaignId: string | null
}

/** The contact an outbound message goes to, as the command handler found it. */
export interface OutboundRecipient {
  contactId: string
  to: string | null
  optedOut: boolean
  deleted: boolean
}

/** The contact an inbound message comes from. */
export interface InboundSender {
  contactId: string
  name: string
  from: string | null
}

/** One delivery report; a failure always says why. */
export type StatusReport =
  | { status: 'sent' | 'delivered' | 'read'; providerMessageId: string | null }
  | { status: 'failed'; reason: string; providerMessageId: string | null }

export type MessageCommand =
  | {
      type: 'queueOutbound'
      refs: MessageRefs
      /** the status of the conversation the message goes into, as the handler read it; null for campaign messages */
      conversationStatus: 'open' | 'closed' | null
      recipient: OutboundRecipient
      channel: ChannelName
      content: string
      sentBy: Actor
      now: Date
      /** POST /sms/send: its batch and the sender id it asked for */
      origin?: { batchId: string; senderId: string | null }
    }
  | { type: 'receiveInbound'; refs: MessageRefs; sender: InboundSender; conversationSubject: string; channel: ChannelName; content: string; now: Date }
  | { type: 'recordStatus'; report: StatusReport; now: Date }
  /** the message will not be sent (its contact opted out, its campaign ended); only a queued message */
  | { type: 'cancel'; reason: string; now: Date }

/** The delivery steps in order; a report may skip some and implies the ones it skipped. */
const PROGRESS = ['queued', 'sent', 'delivered', 'read'] as const
type ProgressStatus = (typeof PROGRESS)[number]

/** For each report, the statuses in which it is accepted (as a step forward or as a no-op). */
const ACCEPTED_IN: Record<ReportedStatus, readonly OutboundStatus[]> = {
  sent: ['queued', 'sent', 'delivered', 'read'],
  delivered: ['queued', 'sent', 'delivered', 'read'],
  read: ['queued', 'sent', 'delivered', 'read'],
  failed: ['queued', 'sent', 'failed'],
}

function mustBeAbsent(state: MessageState): void {
  if (state.status !== 'absent') throw invalidStatus('Message already exists', state.status, ['absent'])
}

function queueOutbound(command: Extract<MessageCommand, { type: 'queueOutbound' }>, state: MessageState): MessageEvent[] {
  mustBeAbsent(state)
  if (command.conversationStatus === 'closed') throw invalidStatus('Conversation is closed', 'closed', ['open'])
  const { recipient } = command
  if (recipient.deleted) throw new NotFound('Contact not found')
  if (recipient.optedOut) throw new BusinessRuleViolation('Contact has opted out', 'CONTACT_OPTED_OUT', { contact_id: recipient.contactId })
  if (!recipient.to) throw new BusinessRuleViolation('Contact has no phone number', 'CONTACT_HAS_NO_PHONE', { contact_id: recipient.contactId })
  return [
    {
      type: 'outboundMessageQueued',
      data: {
        ...command.refs,
        contactId: recipient.contactId,
        to: recipient.to,
        channel: command.channel,
        content: command.content,
        sentBy: { userId: command.sentBy.userId, name: command.sentBy.name },
        at: command.now.toISOString(),
        ...(command.origin ? { batchId: command.origin.batchId, senderId: command.origin.senderId } : {}),
      },
    },
  ]
}

function receiveInbound(command: Extract<MessageCommand, { type: 'receiveInbound' }>, state: MessageState): MessageEvent[] {
  mustBeAbsent(state)
  return [
    {
      type: 'inboundMessageReceived',
      data: {
        ...command.refs,
        contactId: command.sender.contactId,
        contactName: command.sender.name,
        conversationSubject: command.conversationSubject,
        from: command.sender.from,
        channel: command.channel,
        content: command.content,
        at: command.now.toISOString(),
      },
    },
  ]
}

function refsOf(message: ExistingMessage): MessageRefs {
  return { messageId: message.messageId, tenantId: message.tenantId, conversationId: message.conversationId, campaignId: message.campaignId }
}

function progressEvent(step: Exclude<ProgressStatus, 'queued'>, refs: MessageRefs, providerMessageId: string | null, at: string): MessageEvent {
  switch (step) {
    case 'sent':
      return { type: 'messageSent', data: { ...refs, providerMessageId, at } }
    case 'delivered':
      return { type: 'messageDelivered', data: { ...refs, at } }
    case 'read':
      return { type: 'messageRead', data: { ...refs, at } }
    default:
      return unreachable(step)
  }
}

/**
 * queued → sent → delivered → read, or failed from queued or sent. A report that skips steps
 * records them all, in order; a repeated or older report changes nothing; failed and read are final.
 */
function recordStatus(command: Extract<MessageCommand, { type: 'recordStatus' }>, state: MessageState): MessageEvent[] {
  if (state.status === 'absent') throw new NotFound('Message not found')
  if (state.direction !== 'outbound') {
    throw new BusinessRuleViolation('Only outbound messages have delivery statuses', 'INVALID_DIRECTION', { message_id: state.messageId, direction: state.direction })
  }
  const { report } = command
  const accepted = ACCEPTED_IN[report.status]
  if (!accepted.includes(state.status)) throw invalidStatus('Message status cannot change', state.status, accepted)
  const refs = refsOf(state)
  const at = command.now.toISOString()

  if (report.status === 'failed') {
    if (state.status === 'failed') return []
    return [{ type: 'messageFailed', data: { ...refs, reason: report.reason, at } }]
  }
  if (state.status === 'failed' || state.status === 'cancelled') return []
  const from = PROGRESS.indexOf(state.status)
  const to = PROGRESS.indexOf(report.status)
  const events: MessageEvent[] = []
  for (let step = from + 1; step <= to; step++) {
    events.push(progressEvent(PROGRESS[step] as Exclude<ProgressStatus, 'queued'>, refs, report.providerMessageId, at))
  }
  return events
}

/** queued → cancelled; cancelling a cancelled message again changes nothing. */
function cancel(command: Extract<MessageCommand, { type: 'cancel' }>, state: MessageState): MessageEvent[] {
  if (state.status === 'absent') throw new NotFound('Message not found')
  if (state.direction !== 'outbound') {
    throw new BusinessRuleViolation('Only outbound messages can be cancelled', 'INVALID_DIRECTION', { message_id: state.messageId, direction: state.direction })
  }
  if (state.status === 'cancelled') return []
  if (state.status !== 'queued') throw invalidStatus('Message cannot be cancelled', state.status, ['queued'])
  return [{ type: 'messageCancelled', data: { ...refsOf(state), reason: command.reason, at: command.now.toISOString() } }]
}

export function decide(command: MessageCommand, state: MessageState): MessageEvent[] {
  switch (command.type) {
    case 'queueOutbound':
      return queueOutbound(command, state)
    case 'receiveInbound':
      return receiveInbound(command, state)
    case 'recordStatus':
      return recordStatus(command, state)
    case 'cancel':
      return cancel(command, state)
    default:
      return unreachable(command)
  }
}

function whenOutbound(state: MessageState, change: (message: OutboundMessage) => OutboundMessage): MessageState {
  return state.status !== 'absent' && state.direction === 'outbound' ? change(state) : state
}

export function evolve(state: MessageState, event: MessageEvent): MessageState {
  switch (event.type) {
    case 'outboundMessageQueued':
      return {
        direction: 'outbound',
        status: 'queued',
        messageId: event.data.messageId,
        tenantId: event.data.tenantId,
        conversationId: event.data.conversationId,
        campaignId: event.data.campaignId,
        contactId: event.data.contactId,
        channel: event.data.channel,
        content: event.data.content,
        to: event.data.to,
        sentBy: event.data.sentBy,
        providerMessageId: null,
        sentAt: null,
        deliveredAt: null,
        readAt: null,
        failedAt: null,
        failureReason: null,
        cancelledAt: null,
        cancellationReason: null,
        batchId: event.data.batchId ?? null,
        senderId: event.data.senderId ?? null,
        createdAt: event.data.at,
        updatedAt: event.data.at,
      }
    case 'inboundMessageReceived':
      return {
        direction: 'inbound',
        status: 'received',
        messageId: event.data.messageId,
        tenantId: event.data.tenantId,
        conversationId: event.data.conversationId,
        campaignId: event.data.campaignId,
        contactId: event.data.contactId,
        channel: event.data.channel,
        content: event.data.content,
        from: event.data.from,
        contactName: event.data.contactName,
        conversationSubject: event.data.conversationSubject,
        createdAt: event.data.at,
        updatedAt: event.data.at,
      }
    case 'messageSent':
      return whenOutbound(state, (message) => ({
        ...message,
        status: 'sent',
        sentAt: event.data.at,
        providerMessageId: event.data.providerMessageId ?? message.providerMessageId,
        updatedAt: event.data.at,
      }))
    case 'messageDelivered':
      return whenOutbound(state, (message) => ({ ...message, status: 'delivered', deliveredAt: event.data.at, updatedAt: event.data.at }))
    case 'messageRead':
      return whenOutbound(state, (message) => ({ ...message, status: 'read', readAt: event.data.at, updatedAt: event.data.at }))
    case 'messageFailed':
      return whenOutbound(state, (message) => ({ ...message, status: 'failed', failedAt: event.data.at, failureReason: event.data.reason, updatedAt: event.data.at }))
    case 'messageCancelled':
      return whenOutbound(state, (message) => ({
        ...message,
        status: 'cancelled',
        cancelledAt: event.data.at,
        cancellationReason: event.data.reason,
        updatedAt: event.data.at,
      }))
    default:
      return unreachable(event)
  }
}

export const messageDecider: Decider<MessageCommand, MessageEvent, MessageState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}
