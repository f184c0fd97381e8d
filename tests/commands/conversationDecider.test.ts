import t from 'tap'
import type { ContactSnapshot } from '../../commands/conversations/contactSnapshot.ts'
import { conversationDecider, type ConversationCommand, type ConversationState } from '../../commands/conversations/conversationDecider.ts'
import type { ConversationEvent } from '../../commands/conversations/conversationEvents.ts'
import { fold } from '../../commands/decider.ts'
import { BusinessRuleViolation, NotFound } from '../../infra/errors.ts'

interface Assert {
  same(found: unknown, wanted: unknown, message: string): boolean
  ok(value: unknown, message: string): boolean
}

/** given these recorded events, when this command arrives, then these events (or this refusal) */
function given(history: ConversationEvent[]) {
  const state = fold(conversationDecider.evolve, conversationDecider.initialState, history)
  return {
    state,
    when(command: ConversationCommand) {
      const run = () => conversationDecider.decide(command, state)
      return {
        then(tt: Assert, expected: ConversationEvent[]) {
          tt.same(run(), expected, 'then these events')
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
const conversationId = 'c3a1e2f4-5b6d-4c7e-8f90-a1b2c3d4e5f6'
const contactId = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b'
const now = new Date('2026-03-10T09:00:00.000Z')
const actor = { userId: 'd1e2f3a4-b5c6-4d7e-8f90-0a1b2c3d4e5f', name: 'David Ochieng' }

const contact: ContactSnapshot = { contactId, name: 'John Kamau', phone: '+255712345678', optedOut: false, deleted: false }

const start = (overrides: Partial<Extract<ConversationCommand, { type: 'startConversation' }>> = {}): ConversationCommand => ({
  type: 'startConversation',
  conversationId,
  tenantId,
  contact,
  subject: 'Kenya Coffee Exports',
  channel: 'sms',
  startedBy: actor,
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
    startedBy: actor,
    at: '2026-03-10T09:00:00.000Z',
  },
}

t.test('startConversation on no history records the contact as it is now', async (t) => {
  given([]).when(start()).then(t, [started])
})

t.test('the channel and the contact facts are taken from the command', async (t) => {
  const emailOnly: ContactSnapshot = { ...contact, name: 'Sarah Mwangi', phone: null }
  given([])
    .when(start({ contact: emailOnly, channel: 'whatsapp' }))
    .then(t, [{ ...started, data: { ...started.data, contactName: 'Sarah Mwangi', contactPhone: null, channel: 'whatsapp' } }])
})

t.test('an opted-out contact may still be talked to: a conversation starts', async (t) => {
  given([]).when(start({ contact: { ...contact, optedOut: true } })).then(t, [started])
})

t.test('a deleted contact is not found', async (t) => {
  given([]).when(start({ contact: { ...contact, deleted: true } })).refuses(t, NotFound, (error) => t.equal(error.message, 'Contact not found'))
})

t.test('a conversation cannot start twice', async (t) => {
  given([started]).when(start()).refuses(t, BusinessRuleViolation, (error) => {
    const refusal = error as BusinessRuleViolation
    t.equal(refusal.errorCode, 'INVALID_STATUS')
    t.same(refusal.details, { current_status: 'open', allowed_statuses: ['absent'] })
  })
})

t.test('evolve: a started conversation is open, with the facts of its event', async (t) => {
  const state: ConversationState = given([started]).state
  t.same(state, {
    status: 'open',
    conversationId,
    tenantId,
    contactId,
    contactName: 'John Kamau',
    contactPhone: '+255712345678',
    subject: 'Kenya Coffee Exports',
    channel: 'sms',
    startedBy: actor,
    assignedTo: null,
    createdAt: '2026-03-10T09:00:00.000Z',
    updatedAt: '2026-03-10T09:00:00.000Z',
  })
})
