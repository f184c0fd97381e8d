import t from 'tap'
import {
  conversationDecider,
  type AssigneeCandidate,
  type AssignmentChange,
  type ConversationCommand,
  type ConversationStatus,
} from '../../commands/conversations/conversationDecider.ts'
import type { ConversationEvent } from '../../commands/conversations/conversationEvents.ts'
import { conversationView } from '../../commands/conversations/conversationView.ts'
import { messageDecider, type MessageCommand } from '../../commands/messages/messageDecider.ts'
import { BusinessRuleViolation, NotFound, ValidationFailed } from '../../infra/errors.ts'
import { agent, contact, contactId, conversationId, messageId, tenantId } from '../support/conversationDeciderFixtures.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

/** Closing, reopening and assigning conversations; replies reopen; no outbound into a closed one. */
const spec = deciderSpec(conversationDecider)

const amina = { userId: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', name: 'Amina Juma' }
const baraka = { userId: 'b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e', name: 'Baraka Said' }
const at = (minute: number): string => new Date(Date.UTC(2026, 2, 10, 9, minute)).toISOString()
const now = (minute: number): Date => new Date(at(minute))

const refs = { conversationId, tenantId, subject: 'Kenya Coffee Exports' }

const started: ConversationEvent = {
  type: 'conversationStarted',
  data: { conversationId, tenantId, contactId, contactName: 'John Kamau', contactPhone: '+255712345678', subject: 'Kenya Coffee Exports', channel: 'sms', startedBy: agent, at: at(0) },
}
const closed = (minute = 5): ConversationEvent => ({ type: 'conversationClosed', data: { ...refs, closedBy: agent, at: at(minute) } })
const reopenedByUser = (minute = 5): ConversationEvent => ({
  type: 'conversationReopened',
  data: { ...refs, trigger: 'user', messageId: null, reopenedBy: agent, at: at(minute) },
})
const assigned = (assignee: { userId: string; name: string }, previousAssignee: { userId: string; name: string } | null = null, minute = 5): ConversationEvent => ({
  type: 'conversationAssigned',
  data: { ...refs, assignee, previousAssignee, assignedBy: agent, at: at(minute) },
})
const unassigned = (previousAssignee: { userId: string; name: string }, minute = 5): ConversationEvent => ({
  type: 'conversationUnassigned',
  data: { ...refs, previousAssignee, unassignedBy: agent, at: at(minute) },
})

const member = (user: { userId: string; name: string }): AssigneeCandidate => ({ ...user, isMember: true })
const assign = (candidate: AssigneeCandidate): AssignmentChange => ({ kind: 'assign', candidate })
const update = (status: ConversationStatus | null, assignment: AssignmentChange = { kind: 'keep' }, minute = 5): ConversationCommand => ({
  type: 'updateConversation',
  status,
  assignment,
  updatedBy: agent,
  now: now(minute),
})
const replyArrives = (minute = 7): ConversationCommand => ({ type: 'reopenForReply', messageId, receivedBy: agent, now: now(minute) })

const invalid = (message: string, current: string, allowed: string[]) => ({
  type: BusinessRuleViolation,
  message,
  fields: { errorCode: 'INVALID_STATUS', statusCode: 400, details: { current_status: current, allowed_statuses: allowed } },
})

t.test('startConversation still opens an unassigned conversation', async (t) => {
  spec
    .given([])
    .when({ type: 'startConversation', conversationId, tenantId, contact, subject: 'Kenya Coffee Exports', channel: 'sms', startedBy: agent, now: now(0) })
    .then(t, [started])
  t.match(spec.given([started]).state(), { status: 'open', assignedTo: null })
})

t.test('close and reopen', async (t) => {
  t.test('an open conversation closes; a closed one reopens', async (t) => {
    spec.given([started]).when(update('closed')).then(t, [closed()])
    t.match(spec.given([started, closed()]).state(), { status: 'closed', updatedAt: at(5), createdAt: at(0) })
    spec.given([started, closed()]).when(update('open', { kind: 'keep' }, 9)).then(t, [reopenedByUser(9)])
    t.match(spec.given([started, closed(), reopenedByUser(9)]).state(), { status: 'open', updatedAt: at(9) })
  })

  t.test('the status it already has changes nothing', async (t) => {
    spec.given([started]).when(update('open')).then(t, [])
    spec.given([started, closed()]).when(update('closed')).then(t, [])
    spec.given([started]).when(update(null)).then(t, [])
  })

  t.test('closing keeps the assignee', async (t) => {
    t.match(spec.given([started, assigned(amina), closed(6)]).state(), { status: 'closed', assignedTo: amina })
  })

  t.test('an unknown conversation is not found', async (t) => {
    spec.given([]).when(update('closed')).refuses(t, { type: NotFound, message: 'Conversation not found' })
  })
})

t.test('assignment', async (t) => {
  t.test('assigns to a member, with the assignee and the previous one named', async (t) => {
    spec.given([started]).when(update(null, assign(member(amina)))).then(t, [assigned(amina)])
    spec.given([started, assigned(amina)]).when(update(null, assign(member(baraka)), 6)).then(t, [assigned(baraka, amina, 6)])
    t.match(spec.given([started, assigned(amina), assigned(baraka, amina, 6)]).state(), { assignedTo: baraka, updatedAt: at(6) })
  })

  t.test('the same assignee again, or unassigning nobody, changes nothing', async (t) => {
    spec.given([started, assigned(amina)]).when(update(null, assign(member(amina)))).then(t, [])
    spec.given([started]).when(update(null, { kind: 'unassign' })).then(t, [])
  })

  t.test('unassigns', async (t) => {
    spec.given([started, assigned(amina)]).when(update(null, { kind: 'unassign' }, 6)).then(t, [unassigned(amina, 6)])
    t.match(spec.given([started, assigned(amina), unassigned(amina, 6)]).state(), { assignedTo: null })
  })

  t.test('someone outside the tenant is a field error', async (t) => {
    const refusal = { type: ValidationFailed, fields: { errors: { assigned_to: ['User is not a member of this tenant.'] } } }
    spec.given([started]).when(update(null, assign({ ...baraka, isMember: false }))).refuses(t, refusal)
    spec.given([started]).when(update('closed', assign({ userId: baraka.userId, name: '', isMember: false }))).refuses(t, refusal)
  })

  t.test('the assignee of a closed conversation does not change, unless the same update reopens it', async (t) => {
    const locked = invalid('The assignee of a closed conversation cannot change', 'closed', ['open'])
    spec.given([started, closed(4)]).when(update(null, assign(member(amina)))).refuses(t, locked)
    spec.given([started, closed(4)]).when(update('closed', assign(member(amina)))).refuses(t, locked)
    spec.given([started, assigned(amina, null, 3), closed(4)]).when(update(null, { kind: 'unassign' })).refuses(t, locked)
    // nothing to change is no refusal
    spec.given([started, assigned(amina, null, 3), closed(4)]).when(update(null, assign(member(amina)))).then(t, [])
    // reopen, then assign
    spec.given([started, closed(4)]).when(update('open', assign(member(amina)))).then(t, [reopenedByUser(), assigned(amina)])
  })

  t.test('assign, then close, in one update', async (t) => {
    spec.given([started]).when(update('closed', assign(member(amina)))).then(t, [assigned(amina), closed()])
  })
})

t.test('a reply reopens a closed conversation', async (t) => {
  const reopenedByReply: ConversationEvent = {
    type: 'conversationReopened',
    data: { ...refs, trigger: 'inbound_message', messageId, reopenedBy: agent, at: at(7) },
  }
  spec.given([started, closed()]).when(replyArrives()).then(t, [reopenedByReply])
  t.match(spec.given([started, closed(), reopenedByReply]).state(), { status: 'open', updatedAt: at(7) })
  spec.given([started]).when(replyArrives()).then(t, [], 'an open conversation stays as it is')
  spec.given([]).when(replyArrives()).refuses(t, { type: NotFound })
})

t.test('conversationView names the assignee', async (t) => {
  const state = spec.given([started, assigned(amina)]).state()
  if (state.status === 'absent') throw new Error('started')
  t.same(conversationView(state), {
    id: conversationId,
    contact_id: contactId,
    contact_name: 'John Kamau',
    contact_phone: '+255712345678',
    subject: 'Kenya Coffee Exports',
    channel: 'sms',
    status: 'open',
    assigned_to: amina.userId,
    assigned_to_name: 'Amina Juma',
    created_at: at(0),
    updated_at: at(5),
  })
})

t.test('no outbound message into a closed conversation', async (t) => {
  const messages = deciderSpec(messageDecider)
  const queue = (conversationStatus: 'open' | 'closed' | null): Extract<MessageCommand, { type: 'queueOutbound' }> => ({
    type: 'queueOutbound',
    refs: { messageId, tenantId, conversationId, campaignId: null },
    conversationStatus,
    recipient: { contactId, to: '+255712345678', optedOut: false, deleted: false },
    channel: 'sms',
    content: 'Your order has shipped',
    sentBy: agent,
    now: now(8),
  })
  const queuedEvent = {
    type: 'outboundMessageQueued' as const,
    data: { messageId, tenantId, conversationId, campaignId: null, contactId, to: '+255712345678', channel: 'sms' as const, content: 'Your order has shipped', sentBy: agent, at: at(8) },
  }
  messages.given([]).when(queue('closed')).refuses(t, invalid('Conversation is closed', 'closed', ['open']))
  messages.given([]).when(queue('open')).then(t, [queuedEvent])
  messages.given([]).when(queue(null)).then(t, [queuedEvent], 'a campaign message has no conversation to check')
  // the closed conversation is refused before the contact's own refusals
  messages
    .given([])
    .when({ ...queue('closed'), recipient: { contactId, to: '+255712345678', optedOut: true, deleted: false } })
    .refuses(t, invalid('Conversation is closed', 'closed', ['open']))
})
