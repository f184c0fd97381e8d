import t from 'tap'
import { fold } from '../../commands/decider.ts'
import {
  messageDecider,
  type MessageCommand,
  type MessageRefs,
  type OutboundMessage,
  type OutboundStatus,
  type OutboundRecipient,
  type ReportedStatus,
  type StatusReport,
} from '../../commands/messages/messageDecider.ts'
import type { MessageEvent } from '../../commands/messages/messageEvents.ts'
import { BusinessRuleViolation, NotFound } from '../../infra/errors.ts'
import { agent, contactId, conversationId, messageId, tenantId } from '../support/conversationDeciderFixtures.ts'
import { deciderSpec, type ExpectedRefusal } from '../support/deciderSpec.ts'

const spec = deciderSpec(messageDecider)

const t0 = new Date('2026-03-10T09:00:00.000Z')
const t1 = new Date('2026-03-10T09:01:00.000Z')
const at0 = t0.toISOString()
const at1 = t1.toISOString()

const refs: MessageRefs = { messageId, tenantId, conversationId, campaignId: null }
const recipient: OutboundRecipient = { contactId, to: '+255712345678', optedOut: false, deleted: false }

const queue = (overrides: Partial<Extract<MessageCommand, { type: 'queueOutbound' }>> = {}): MessageCommand => ({
  type: 'queueOutbound',
  refs,
  conversationStatus: 'open',
  recipient,
  channel: 'sms',
  content: 'Habari John, your order has shipped',
  sentBy: agent,
  now: t0,
  ...overrides,
})

const receive: MessageCommand = {
  type: 'receiveInbound',
  refs,
  sender: { contactId, name: 'John Kamau', from: '+255712345678' },
  conversationSubject: 'Kenya Coffee Exports',
  channel: 'sms',
  content: 'Thank you for the quick response',
  now: t0,
}

const report = (status: ReportedStatus, extra: { reason?: string; providerMessageId?: string } = {}): MessageCommand => {
  const providerMessageId = extra.providerMessageId ?? null
  const statusReport: StatusReport = status === 'failed' ? { status, reason: extra.reason ?? 'Absent subscriber', providerMessageId } : { status, providerMessageId }
  return { type: 'recordStatus', report: statusReport, now: t1 }
}

const queued: MessageEvent = {
  type: 'outboundMessageQueued',
  data: { ...refs, contactId, to: '+255712345678', channel: 'sms', content: 'Habari John, your order has shipped', sentBy: agent, at: at0 },
}
const received: MessageEvent = {
  type: 'inboundMessageReceived',
  data: {
    ...refs,
    contactId,
    contactName: 'John Kamau',
    conversationSubject: 'Kenya Coffee Exports',
    from: '+255712345678',
    channel: 'sms',
    content: 'Thank you for the quick response',
    at: at0,
  },
}
const sent = (providerMessageId: string | null = null, at = at1): MessageEvent => ({ type: 'messageSent', data: { ...refs, providerMessageId, at } })
const delivered = (at = at1): MessageEvent => ({ type: 'messageDelivered', data: { ...refs, at } })
const read = (at = at1): MessageEvent => ({ type: 'messageRead', data: { ...refs, at } })
const failed = (reason = 'Absent subscriber', at = at1): MessageEvent => ({ type: 'messageFailed', data: { ...refs, reason, at } })

/** the history that brings a queued message to each status (steps recorded at t0) */
const historyOf: Record<OutboundStatus, readonly MessageEvent[]> = {
  queued: [queued],
  sent: [queued, sent('prov-1', at0)],
  delivered: [queued, sent('prov-1', at0), delivered(at0)],
  read: [queued, sent('prov-1', at0), delivered(at0), read(at0)],
  failed: [queued, failed('Network error', at0)],
  cancelled: [queued, { type: 'messageCancelled', data: { ...refs, reason: 'Contact opted out', at: at0 } }],
}

/** INVALID_STATUS with the current and allowed statuses */
const invalidStatus = (current: string, allowed: string[]): ExpectedRefusal => ({
  type: BusinessRuleViolation,
  message: 'Message status cannot change',
  fields: { errorCode: 'INVALID_STATUS', details: { current_status: current, allowed_statuses: allowed } },
})

t.test('queueOutbound', async (t) => {
  t.test('queues a new message to the contact phone', async (t) => {
    spec.given([]).when(queue()).then(t, [queued])
  })
  t.test('a campaign message has no conversation', async (t) => {
    const campaignRefs = { ...refs, conversationId: null, campaignId: 'ab12cd34-ef56-4a78-9b01-c2d3e4f5a6b7' }
    spec.given([]).when(queue({ refs: campaignRefs })).then(t, [{ ...queued, data: { ...queued.data, ...campaignRefs } }])
  })
  t.test('an opted-out contact is refused with CONTACT_OPTED_OUT', async (t) => {
    spec.given([]).when(queue({ recipient: { ...recipient, optedOut: true } })).refuses(t, {
      type: BusinessRuleViolation,
      message: 'Contact has opted out',
      fields: { errorCode: 'CONTACT_OPTED_OUT', details: { contact_id: contactId } },
    })
  })
  t.test('a deleted contact is not found (even when also opted out)', async (t) => {
    spec.given([]).when(queue({ recipient: { ...recipient, deleted: true, optedOut: true } })).refuses(t, { type: NotFound, message: 'Contact not found' })
  })
  t.test('a contact without a phone number cannot be messaged', async (t) => {
    spec.given([]).when(queue({ recipient: { ...recipient, to: null } })).refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'CONTACT_HAS_NO_PHONE' } })
  })
  t.test('a message id is used once', async (t) => {
    spec.given([queued]).when(queue()).refuses(t, { type: BusinessRuleViolation, fields: { details: { current_status: 'queued', allowed_statuses: ['absent'] } } })
    spec.given([received]).when(queue()).refuses(t, { type: BusinessRuleViolation })
  })
})

t.test('receiveInbound', async (t) => {
  t.test('records the reply with the contact name and the conversation subject', async (t) => {
    spec.given([]).when(receive).then(t, [received])
  })
  t.test('a message id is used once', async (t) => {
    spec.given([received]).when(receive).refuses(t, { type: BusinessRuleViolation, fields: { details: { current_status: 'received', allowed_statuses: ['absent'] } } })
    spec.given([queued]).when(receive).refuses(t, { type: BusinessRuleViolation })
  })
})

t.test('recordStatus: every step forward', async (t) => {
  spec.given(historyOf.queued).when(report('sent', { providerMessageId: 'prov-9' })).then(t, [sent('prov-9')], 'queued → sent')
  spec.given(historyOf.queued).when(report('failed', { reason: 'Invalid number' })).then(t, [failed('Invalid number')], 'queued → failed')
  spec.given(historyOf.sent).when(report('delivered')).then(t, [delivered()], 'sent → delivered')
  spec.given(historyOf.sent).when(report('read')).then(t, [delivered(), read()], 'sent → read implies delivered')
  spec.given(historyOf.sent).when(report('failed')).then(t, [failed()], 'sent → failed')
  spec.given(historyOf.delivered).when(report('read')).then(t, [read()], 'delivered → read')
})

t.test('recordStatus: a report that skips steps records the steps it implies, in order', async (t) => {
  spec.given(historyOf.queued).when(report('delivered', { providerMessageId: 'prov-2' })).then(t, [sent('prov-2'), delivered()], 'queued → delivered')
  spec.given(historyOf.queued).when(report('read')).then(t, [sent(), delivered(), read()], 'queued → read')
})

t.test('recordStatus: repeated or older reports change nothing', async (t) => {
  spec.given(historyOf.sent).when(report('sent')).then(t, [], 'sent again')
  spec.given(historyOf.delivered).when(report('sent')).then(t, [], 'sent after delivered')
  spec.given(historyOf.delivered).when(report('delivered')).then(t, [], 'delivered again')
  spec.given(historyOf.read).when(report('sent')).then(t, [], 'sent after read')
  spec.given(historyOf.read).when(report('delivered')).then(t, [], 'delivered after read')
  spec.given(historyOf.read).when(report('read')).then(t, [], 'read again')
  spec.given(historyOf.failed).when(report('failed', { reason: 'Network error' })).then(t, [], 'failed again')
})

t.test('recordStatus: refusals', async (t) => {
  for (const status of ['sent', 'delivered', 'read'] as const) {
    spec.given(historyOf.failed).when(report(status)).refuses(t, invalidStatus('failed', ['queued', 'sent', 'delivered', 'read']))
  }
  spec.given(historyOf.delivered).when(report('failed')).refuses(t, invalidStatus('delivered', ['queued', 'sent', 'failed']))
  spec.given(historyOf.read).when(report('failed')).refuses(t, invalidStatus('read', ['queued', 'sent', 'failed']))

  spec.given([received]).when(report('delivered')).refuses(t, {
    type: BusinessRuleViolation,
    message: 'Only outbound messages have delivery statuses',
    fields: { errorCode: 'INVALID_DIRECTION' },
  })
  spec.given([]).when(report('sent')).refuses(t, { type: NotFound, message: 'Message not found' })
})

t.test('evolve: the state follows the events', async (t) => {
  const queuedState = spec.given([queued]).state() as OutboundMessage
  t.match(queuedState, { direction: 'outbound', status: 'queued', to: '+255712345678', sentAt: null, createdAt: at0, updatedAt: at0 })

  const readState = spec.given([queued, sent('prov-1'), delivered(), read()]).state() as OutboundMessage
  t.match(readState, { status: 'read', providerMessageId: 'prov-1', sentAt: at1, deliveredAt: at1, readAt: at1, failedAt: null, updatedAt: at1 })

  const failedState = spec.given([queued, sent('prov-1', at0), failed('Network error')]).state() as OutboundMessage
  t.match(failedState, { status: 'failed', sentAt: at0, failedAt: at1, failureReason: 'Network error', providerMessageId: 'prov-1' })

  t.match(spec.given([received]).state(), { direction: 'inbound', status: 'received', contactName: 'John Kamau', conversationSubject: 'Kenya Coffee Exports', from: '+255712345678' })

  // status events never turn an inbound message into an outbound one
  t.same(spec.given([received, delivered()]).state(), spec.given([received]).state())
})

t.test('fold(decide) is consistent: applying the decided events reaches the reported status', async (t) => {
  const statuses: ReportedStatus[] = ['sent', 'delivered', 'read', 'failed']
  for (const start of Object.keys(historyOf) as OutboundStatus[]) {
    for (const status of statuses) {
      const state = spec.given(historyOf[start]).state()
      let events: MessageEvent[]
      try {
        events = messageDecider.decide(report(status), state)
      } catch {
        continue
      }
      const after = fold(messageDecider.evolve, state, events) as OutboundMessage
      if (events.length > 0) t.equal(after.status, status, `${start} + ${status} report → ${status}`)
      else t.equal(after.status, start, `${start} + ${status} report changes nothing`)
    }
  }
})

t.test('cancel: a queued message that will not be sent', async (t) => {
  const cancel = (reason = 'Contact opted out'): MessageCommand => ({ type: 'cancel', reason, now: new Date(at1) })
  const cancelled: MessageEvent = { type: 'messageCancelled', data: { ...refs, reason: 'Contact opted out', at: at1 } }
  spec.given(historyOf.queued).when(cancel()).then(t, [cancelled], 'queued → cancelled')
  spec.given(historyOf.cancelled).when(cancel()).then(t, [], 'cancelled again changes nothing')
  for (const status of ['sent', 'delivered', 'read', 'failed'] as const) {
    spec.given(historyOf[status]).when(cancel()).refuses(t, {
      type: BusinessRuleViolation,
      message: 'Message cannot be cancelled',
      fields: { errorCode: 'INVALID_STATUS', details: { current_status: status, allowed_statuses: ['queued'] } },
    })
  }
  spec.given([received]).when(cancel()).refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'INVALID_DIRECTION' } })
  spec.given([]).when(cancel()).refuses(t, { type: NotFound, message: 'Message not found' })
  for (const status of ['sent', 'delivered', 'read', 'failed'] as const) {
    spec.given(historyOf.cancelled).when(report(status)).refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'INVALID_STATUS' } })
  }
  t.match(spec.given([queued, cancelled]).state(), { status: 'cancelled', cancelledAt: at1, cancellationReason: 'Contact opted out', sentAt: null, updatedAt: at1 })
})
