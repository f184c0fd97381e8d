import t from 'tap'
import type { ContactSnapshot } from '../../commands/conversations/contactSnapshot.ts'
import { conversationDecider, type ConversationCommand, type ConversationState } from '../../commands/conversations/conversationDecider.ts'
import type { ConversationEvent } from '../../commands/conversations/conversationEvents.ts'
import { BusinessRuleViolation, NotFound } from '../../infra/errors.ts'
import { agent, contact, contactId, conversationId, tenantId } from '../support/conversationDeciderFixtures.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

const spec = deciderSpec(conversationDecider)

const now = new Date('2026-03-10T09:00:00.000Z')

const start = (overrides: Partial<Extract<ConversationCommand, { type: 'startConversation' }>> = {}): ConversationCommand => ({
  type: 'startConversation',
  conversationId,
  tenantId,
  contact,
  subject: 'Kenya Coffee Exports',
  channel: 'sms',
  startedBy: agent,
  now,
  ...overrides,
})

const started: ConversationEvent = {
  type: 'conversationStarted',
  data: {
    conversationId,
    tenantId,
    contactId,
    contactName: 'John Kamau',
    contactPhone: '+255712345678',
    subject: 'Kenya Coffee Exports',
    channel: 'sms',
    startedBy: agent,
    at: '2026-03-10T09:00:00.000Z',
  },
}

t.test('startConversation on no history records the contact as it is now', async (t) => {
  spec.given([]).when(start()).then(t, [started])
})

t.test('the channel and the contact facts are taken from the command', async (t) => {
  const emailOnly: ContactSnapshot = { ...contact, name: 'Sarah Mwangi', phone: null }
  spec
    .given([])
    .when(start({ contact: emailOnly, channel: 'whatsapp' }))
    .then(t, [{ ...started, data: { ...started.data, contactName: 'Sarah Mwangi', contactPhone: null, channel: 'whatsapp' } }])
})

t.test('an opted-out contact may still be talked to: a conversation starts', async (t) => {
  spec.given([]).when(start({ contact: { ...contact, optedOut: true } })).then(t, [started])
})

t.test('a deleted contact is not found', async (t) => {
  spec.given([]).when(start({ contact: { ...contact, deleted: true } })).refuses(t, { type: NotFound, message: 'Contact not found' })
})

t.test('a conversation cannot start twice', async (t) => {
  spec.given([started]).when(start()).refuses(t, {
    type: BusinessRuleViolation,
    fields: { errorCode: 'INVALID_STATUS', details: { current_status: 'open', allowed_statuses: ['absent'] } },
  })
})

t.test('evolve: a started conversation is open, with the facts of its event', async (t) => {
  const state: ConversationState = spec.given([started]).state()
  t.same(state, {
    status: 'open',
    conversationId,
    tenantId,
    contactId,
    contactName: 'John Kamau',
    contactPhone: '+255712345678',
    subject: 'Kenya Coffee Exports',
    channel: 'sms',
    startedBy: agent,
    assignedTo: null,
    createdAt: '2026-03-10T09:00:00.000Z',
    updatedAt: '2026-03-10T09:00:00.000Z',
  })
})
