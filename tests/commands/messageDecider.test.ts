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

interface Assert {
  same(found: unknown, wanted: unknown, message: string): boolean
  ok(value: unknown, message: string): boolean
}

/** given these recorded events, when this command arrives, then these events (or this refusal) */
function given(history: readonly MessageEvent[]) {
  const state = fold(messageDecider.evolve, messageDecider.initialState, history)
  return {
    state,
    when(command: MessageCommand) {
      const run = () => messageDecider.decide(command, state)
      return {
        then(tt: Assert, expected: MessageEvent[], message = 'then these events') {
          tt.same(run(), expected, message)
        },
        refuses(tt: Assert, errorClass: new (...args: never[]) => Error, check: (error: Error) => void = () => undefined) {
          let thrown: unknown = null
          try {
            run()
          } catch (error) {
            thrown = error
          }
          tt.ok(thrown instanceof errorClass, `refused with ${errorClass.name}`)
          if (thrown instanceof errorClass) check(thrown)
        },
      }
    },
  }
}

const tenantId = '5d0f3b2a-1c4e-4f6a-9b8d-7e6f5a4b3c21'
const messageId = '7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910'
const conversationId = 'c3a1e2f4-5b6d-4c7e-8f90-a1b2c3d4e5f6'
const contactId = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b'
const actor = { userId: 'd1e2f3a4-b5c6-4d7e-8f90-0a1b2c3d4e5f', name: 'David Ochieng' }
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
  sentBy: actor,
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
  data: { ...refs, contactId, to: '+255712345678', channel: 'sms', content: 'Habari John, your order has shipped', sentBy: actor, at: at0 },
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
}

function expectInvalidStatus(tt: { same(found: unknown, wanted: unknown, message: string): boolean }, current: string, allowed: string[]) {
  return (error: Error) => {
    const refusal = error as BusinessRuleViolation
    tt.same(
      { message: refusal.message, code: refusal.errorCode, details: refusal.details },
      { message: 'Message status cannot change', code: 'INVALID_STATUS', details: { current_status: current, allowed_statuses: allowed } },
      'INVALID_STATUS with the current and allowed statuses',
    )
  }
}

t.test('queueOutbound', async (t) => {
  t.test('queues a new message to the contact phone', async (t) => {
    given([]).when(queue()).then(t, [queued])
  })
  t.test('a campaign message has no conversation', async (t) => {
    const campaignRefs = { ...refs, conversationId: null, campaignId: 'ab12cd34-ef56-4a78-9b01-c2d3e4f5a6b7' }
    given([]).when(queue({ refs: campaignRefs })).then(t, [{ ...queued, data: { ...queued.data, ...campaignRefs } }])
  })
  t.test('an opted-out contact is refused with CONTACT_OPTED_OUT', async (t) => {
    given([]).when(queue({ recipient: { ...recipient, optedOut: true } })).refuses(t, BusinessRuleViolation, (error) => {
      const refusal = error as BusinessRuleViolation
      t.equal(refusal.message, 'Contact has opted out')
      t.equal(refusal.errorCode, 'CONTACT_OPTED_OUT')
      t.same(refusal.details, { contact_id: contactId })
    })
  })
  t.test('a deleted contact is not found (even when also opted out)', async (t) => {
    given([]).when(queue({ recipient: { ...recipient, deleted: true, optedOut: true } })).refuses(t, NotFound, (error) => t.equal(error.message, 'Contact not found'))
  })
  t.test('a contact without a phone number cannot be messaged', async (t) => {
    given([]).when(queue({ recipient: { ...recipient, to: null } })).refuses(t, BusinessRuleViolation, (error) => {
      t.equal((error as BusinessRuleViolation).errorCode, 'CONTACT_HAS_NO_PHONE')
    })
  })
  t.test('a message id is used once', async (t) => {
    given([queued]).when(queue()).refuses(t, BusinessRuleViolation, (error) => {
      t.same((error as BusinessRuleViolation).details, { current_status: 'queued', allowed_statuses: ['absent'] })
    })
    given([received]).when(queue()).refuses(t, BusinessRuleViolation)
  })
})

t.test('receiveInbound', async (t) => {
  t.test('records the reply with the contact name and the conversation subject', async (t) => {
    given([]).when(receive).then(t, [received])
  })
  t.test('a message id is used once', async (t) => {
    given([received]).when(receive).refuses(t, BusinessRuleViolation, (error) => {
      t.same((error as BusinessRuleViolation).details, { current_status: 'received', allowed_statuses: ['absent'] })
    })
    given([queued]).when(receive).refuses(t, BusinessRuleViolation)
  })
})

t.test('recordStatus: every step forward', async (t) => {
  given(historyOf.queued).when(report('sent', { providerMessageId: 'prov-9' })).then(t, [sent('prov-9')], 'queued → sent')
  given(historyOf.queued).when(report('failed', { reason: 'Invalid number' })).then(t, [failed('Invalid number')], 'queued → failed')
  given(historyOf.sent).when(report('delivered')).then(t, [delivered()], 'sent → delivered')
  given(historyOf.sent).when(report('read')).then(t, [delivered(), read()], 'sent → read implies delivered')
  given(historyOf.sent).when(report('failed')).then(t, [failed()], 'sent → failed')
  given(historyOf.delivered).when(report('read')).then(t, [read()], 'delivered → read')
})

t.test('recordStatus: a report that skips steps records the steps it implies, in order', async (t) => {
  given(historyOf.queued).when(report('delivered', { providerMessageId: 'prov-2' })).then(t, [sent('prov-2'), delivered()], 'queued → delivered')
  given(historyOf.queued).when(report('read')).then(t, [sent(), delivered(), read()], 'queued → read')
})

t.test('recordStatus: repeated or older reports change nothing', async (t) => {
  given(historyOf.sent).when(report('sent')).then(t, [], 'sent again')
  given(historyOf.delivered).when(report('sent')).then(t, [], 'sent after delivered')
  given(historyOf.delivered).when(report('delivered')).then(t, [], 'delivered again')
  given(historyOf.read).when(report('sent')).then(t, [], 'sent after read')
  given(historyOf.read).when(report('delivered')).then(t, [], 'delivered after read')
  given(historyOf.read).when(report('read')).then(t, [], 'read again')
  given(historyOf.failed).when(report('failed', { reason: 'Network error' })).then(t, [], 'failed again')
})

t.test('recordStatus: refusals', async (t) => {
  for (const status of ['sent', 'delivered', 'read'] as const) {
    given(historyOf.failed).when(report(status)).refuses(t, BusinessRuleViolation, expectInvalidStatus(t, 'failed', ['queued', 'sent', 'delivered', 'read']))
  }
  given(historyOf.delivered).when(report('failed')).refuses(t, BusinessRuleViolation, expectInvalidStatus(t, 'delivered', ['queued', 'sent', 'failed']))
  given(historyOf.read).when(report('failed')).refuses(t, BusinessRuleViolation, expectInvalidStatus(t, 'read', ['queued', 'sent', 'failed']))

  given([received]).when(report('delivered')).refuses(t, BusinessRuleViolation, (error) => {
    const refusal = error as BusinessRuleViolation
    t.equal(refusal.message, 'Only outbound messages have delivery statuses')
    t.equal(refusal.errorCode, 'INVALID_DIRECTION')
  })
  given([]).when(report('sent')).refuses(t, NotFound, (error) => t.equal(error.message, 'Message not found'))
})

t.test('evolve: the state follows the events', async (t) => {
  const queuedState = given([queued]).state as OutboundMessage
  t.match(queuedState, { direction: 'outbound', status: 'queued', to: '+255712345678', sentAt: null, createdAt: at0, updatedAt: at0 })

  const readState = given([queued, sent('prov-1'), delivered(), read()]).state as OutboundMessage
  t.match(readState, { status: 'read', providerMessageId: 'prov-1', sentAt: at1, deliveredAt: at1, readAt: at1, failedAt: null, updatedAt: at1 })

  const failedState = given([queued, sent('prov-1', at0), failed('Network error')]).state as OutboundMessage
  t.match(failedState, { status: 'failed', sentAt: at0, failedAt: at1, failureReason: 'Network error', providerMessageId: 'prov-1' })

  t.match(given([received]).state, { direction: 'inbound', status: 'received', contactName: 'John Kamau', conversationSubject: 'Kenya Coffee Exports', from: '+255712345678' })

  // status events never turn an inbound message into an outbound one
  t.same(given([received, delivered()]).state, given([received]).state)
})

t.test('fold(decide) is consistent: applying the decided events reaches the reported status', async (t) => {
  const statuses: ReportedStatus[] = ['sent', 'delivered', 'read', 'failed']
  for (const start of Object.keys(historyOf) as OutboundStatus[]) {
    for (const status of statuses) {
      const { state } = given(historyOf[start])
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
