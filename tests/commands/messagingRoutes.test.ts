import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { systemActor, type CommandContext } from '../../commands/commandContext.ts'
import { queueCampaignMessage, queueCampaignMessages } from '../../commands/messages/messageCommands.ts'
import { ManualClock } from '../../infra/clock.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { appendsNothing } from '../support/eventLog.ts'
import { createContact } from '../support/messagingFixtures.ts'
import { as, registerUser, startTestApp, type Session } from '../support/testApp.ts'

const START = '2026-03-10T09:00:00.000Z'
const JOHN = { name: 'John Kamau', phone_e164: '+255712345678' }

async function startConversation(app: FastifyInstance, session: Session, contactId: string, subject = 'Kenya Coffee Exports') {
  return app.inject(as(session, { method: 'POST', url: '/api/messaging/conversations/', payload: { contact_id: contactId, subject } }))
}

async function sendMessage(app: FastifyInstance, session: Session, conversationId: string, payload: Record<string, unknown> = {}) {
  return app.inject(as(session, { method: 'POST', url: '/api/messaging/messages/', payload: { conversation_id: conversationId, content: 'Habari John, your order has shipped', ...payload } }))
}

async function reportStatus(app: FastifyInstance, session: Session, messageId: string, payload: Record<string, unknown>) {
  return app.inject(as(session, { method: 'POST', url: `/api/messaging/messages/${messageId}/status/`, payload }))
}

async function eventTypes(store: EventStore, stream: string): Promise<string[]> {
  return (await store.readStream(stream)).events.map((event) => event.type)
}

t.test('conversations and messages over HTTP', async (t) => {
  const clock = new ManualClock(START)
  const { app, services } = await startTestApp(t, { clock, label: 'messaging_http' })
  const { store, database } = services
  const session = await registerUser(app)
  const contactId = await createContact(app, session, JOHN)

  // start a conversation
  clock.advance(60_000)
  const started = await startConversation(app, session, contactId)
  t.equal(started.statusCode, 201, started.body)
  const conversation = started.json()
  t.equal(conversation.success, true)
  t.type(conversation.position, 'number')
  t.match(conversation.data, {
    contact_id: contactId,
    contact_name: 'John Kamau',
    contact_phone: '+255712345678',
    subject: 'Kenya Coffee Exports',
    channel: 'sms',
    status: 'open',
    created_at: '2026-03-10T09:01:00.000Z',
    updated_at: '2026-03-10T09:01:00.000Z',
  })
  const conversationId = conversation.data.id as string
  const [startedEvent] = (await store.readStream(`conversation-${conversationId}`)).events
  t.match(startedEvent, { type: 'conversationStarted', data: { contactName: 'John Kamau', startedBy: { userId: session.userId, name: 'David Ochieng' }, at: '2026-03-10T09:01:00.000Z' } })
  t.equal(startedEvent?.position, conversation.position, 'position is the global position of the event')

  const whatsapp = await app.inject(as(session, { method: 'POST', url: '/api/messaging/conversations', payload: { contact_id: contactId, subject: '  Orders  ', channel: 'whatsapp' } }))
  t.equal(whatsapp.statusCode, 201, 'without the trailing slash too')
  t.match(whatsapp.json().data, { subject: 'Orders', channel: 'whatsapp' })

  // send an outbound message
  clock.advance(60_000)
  const outbound = await sendMessage(app, session, conversationId)
  t.equal(outbound.statusCode, 201, outbound.body)
  const message = outbound.json()
  t.same(Object.keys(message.data).sort(), [
    'campaign_id', 'channel', 'contact_id', 'content', 'conversation_id', 'created_at', 'delivered_at', 'direction', 'failed_at', 'failure_reason', 'id', 'read_at', 'sent_at', 'status', 'updated_at',
  ])
  t.match(message.data, {
    conversation_id: conversationId,
    campaign_id: null,
    contact_id: contactId,
    direction: 'outbound',
    content: 'Habari John, your order has shipped',
    status: 'queued',
    created_at: '2026-03-10T09:02:00.000Z',
    sent_at: null,
    failure_reason: null,
  })
  const messageId = message.data.id as string
  const [queuedEvent] = (await store.readStream(`message-${messageId}`)).events
  t.match(queuedEvent, {
    type: 'outboundMessageQueued',
    data: { messageId, tenantId: session.tenantId, conversationId, campaignId: null, contactId, to: '+255712345678', channel: 'sms', sentBy: { name: 'David Ochieng' } },
    metadata: { tenantId: session.tenantId, userId: session.userId, occurredAt: '2026-03-10T09:02:00.000Z' },
  })
  // the message's SMS part is paid for in the same append: that credit event is the command's last
  const [payment] = (await store.readStream(`smsCredits-${session.tenantId}`, { direction: 'backward', limit: 1 })).events
  t.match(payment, { type: 'smsCreditsConsumed', data: { parts: 1, reference: { kind: 'message', id: messageId } } })
  t.equal(payment?.position, message.position)
  t.ok(queuedEvent!.position < message.position)

  // receive a reply
  clock.advance(60_000)
  const inbound = await sendMessage(app, session, conversationId, { content: 'Thank you for the quick response', direction: 'inbound' })
  t.equal(inbound.statusCode, 201, inbound.body)
  t.match(inbound.json().data, { direction: 'inbound', status: 'received', contact_id: contactId, created_at: '2026-03-10T09:03:00.000Z', sent_at: null })
  const inboundId = inbound.json().data.id as string
  const [receivedEvent] = (await store.readStream(`message-${inboundId}`)).events
  t.match(receivedEvent, {
    type: 'inboundMessageReceived',
    data: { conversationId, contactId, contactName: 'John Kamau', conversationSubject: 'Kenya Coffee Exports', from: '+255712345678', content: 'Thank you for the quick response' },
  })

  // delivery statuses
  clock.advance(60_000)
  const sent = await reportStatus(app, session, messageId, { status: 'sent', provider_message_id: 'prov-123' })
  t.equal(sent.statusCode, 200, sent.body)
  t.match(sent.json(), { success: true, data: { id: messageId, status: 'sent', sent_at: '2026-03-10T09:04:00.000Z' } })
  clock.advance(60_000)
  const delivered = await reportStatus(app, session, messageId, { status: 'delivered' })
  t.equal(delivered.statusCode, 200, delivered.body)
  t.match(delivered.json().data, { status: 'delivered', delivered_at: '2026-03-10T09:05:00.000Z' })
  t.ok(delivered.json().position > sent.json().position, 'positions grow')

  // a repeated or an older report is a no-op: 200, same position, nothing appended
  await appendsNothing(t, database.db, async () => {
    const again = await reportStatus(app, session, messageId, { status: 'delivered' })
    t.equal(again.statusCode, 200, again.body)
    t.equal(again.json().position, delivered.json().position, 'no-op answers the last position')
    const older = await reportStatus(app, session, messageId, { status: 'sent' })
    t.equal(older.statusCode, 200)
    t.equal(older.json().data.status, 'delivered')
  })

  // failed after delivered is refused
  await appendsNothing(t, database.db, async () => {
    const late = await reportStatus(app, session, messageId, { status: 'failed', reason: 'Expired' })
    t.equal(late.statusCode, 400, late.body)
    t.same(late.json(), {
      success: false,
      message: 'Message status cannot change',
      error_code: 'INVALID_STATUS',
      details: { current_status: 'delivered', allowed_statuses: ['queued', 'sent', 'failed'] },
    })
  })

  clock.advance(60_000)
  const read = await reportStatus(app, session, messageId, { status: 'read' })
  t.equal(read.statusCode, 200, read.body)
  t.match(read.json().data, { status: 'read', read_at: '2026-03-10T09:06:00.000Z', sent_at: '2026-03-10T09:04:00.000Z', delivered_at: '2026-03-10T09:05:00.000Z' })
  t.same(await eventTypes(store, `message-${messageId}`), ['outboundMessageQueued', 'messageSent', 'messageDelivered', 'messageRead'])
  const sentEvent = (await store.readStream(`message-${messageId}`)).events[1]
  t.match(sentEvent?.data, { providerMessageId: 'prov-123', conversationId, campaignId: null, tenantId: session.tenantId })

  t.test('a report that skips steps records the steps it implies', async (t) => {
    const skipping = (await sendMessage(app, session, conversationId)).json().data.id as string
    const response = await reportStatus(app, session, skipping, { status: 'delivered', provider_message_id: 'prov-9' })
    t.equal(response.statusCode, 200, response.body)
    t.match(response.json().data, { status: 'delivered', sent_at: '2026-03-10T09:06:00.000Z', delivered_at: '2026-03-10T09:06:00.000Z' })
    t.same(await eventTypes(store, `message-${skipping}`), ['outboundMessageQueued', 'messageSent', 'messageDelivered'])
  })

  t.test('a failure records its reason, and nothing moves a failed message', async (t) => {
    const failing = (await sendMessage(app, session, conversationId)).json().data.id as string
    await appendsNothing(t, database.db, async () => {
      const noReason = await reportStatus(app, session, failing, { status: 'failed' })
      t.equal(noReason.statusCode, 400)
      t.same(noReason.json(), { success: false, message: 'Validation failed', errors: { reason: ['This field is required when the status is failed.'] } })
    })
    const failed = await reportStatus(app, session, failing, { status: 'failed', reason: 'Absent subscriber' })
    t.equal(failed.statusCode, 200, failed.body)
    t.match(failed.json().data, { status: 'failed', failure_reason: 'Absent subscriber', failed_at: '2026-03-10T09:06:00.000Z' })
    await appendsNothing(t, database.db, async () => {
      const after = await reportStatus(app, session, failing, { status: 'delivered' })
      t.equal(after.statusCode, 400)
      t.match(after.json(), { error_code: 'INVALID_STATUS', details: { current_status: 'failed' } })
    })
  })

  t.test('inbound messages have no delivery statuses', async (t) => {
    await appendsNothing(t, database.db, async () => {
      const response = await reportStatus(app, session, inboundId, { status: 'delivered' })
      t.equal(response.statusCode, 400)
      t.same(response.json(), {
        success: false,
        message: 'Only outbound messages have delivery statuses',
        error_code: 'INVALID_DIRECTION',
        details: { message_id: inboundId, direction: 'inbound' },
      })
    })
  })

  t.test('unknown ids', async (t) => {
    await appendsNothing(t, database.db, async () => {
      const noMessage = await reportStatus(app, session, '00000000-0000-4000-8000-000000000000', { status: 'sent' })
      t.equal(noMessage.statusCode, 404)
      t.same(noMessage.json(), { success: false, message: 'Message not found' })
      const noConversation = await sendMessage(app, session, '00000000-0000-4000-8000-000000000000')
      t.equal(noConversation.statusCode, 404)
      t.same(noConversation.json(), { success: false, message: 'Conversation not found' })
      const noContact = await startConversation(app, session, '00000000-0000-4000-8000-000000000000')
      t.equal(noContact.statusCode, 404)
      t.same(noContact.json(), { success: false, message: 'Contact not found' })
    })
  })

  t.test("another tenant's ids are not found", async (t) => {
    const stranger = await registerUser(app, { first_name: 'Sarah', last_name: 'Mwangi' })
    await appendsNothing(t, database.db, async () => {
      const theirContact = await startConversation(app, stranger, contactId)
      t.equal(theirContact.statusCode, 404)
      t.same(theirContact.json(), { success: false, message: 'Contact not found' })
      const theirConversation = await sendMessage(app, stranger, conversationId)
      t.equal(theirConversation.statusCode, 404)
      t.same(theirConversation.json(), { success: false, message: 'Conversation not found' })
      const theirInbound = await sendMessage(app, stranger, conversationId, { direction: 'inbound' })
      t.equal(theirInbound.statusCode, 404)
      const theirMessage = await reportStatus(app, stranger, messageId, { status: 'read' })
      t.equal(theirMessage.statusCode, 404)
      t.same(theirMessage.json(), { success: false, message: 'Message not found' })
    })
  })

  t.test('an opted-out contact gets no messages, but its replies are recorded', async (t) => {
    const optedOut = await createContact(app, session, { name: 'Amina Hassan', phone_e164: '+255713000111' })
    const optedOutConversation = (await startConversation(app, session, optedOut, 'Delivery times')).json().data.id as string
    const optOut = await app.inject(as(session, { method: 'POST', url: `/api/messaging/contacts/${optedOut}/opt-out/`, payload: { reason: 'Too many messages' } }))
    t.equal(optOut.statusCode, 200, optOut.body)
    await appendsNothing(t, database.db, async () => {
      const refused = await sendMessage(app, session, optedOutConversation)
      t.equal(refused.statusCode, 400, refused.body)
      t.same(refused.json(), { success: false, message: 'Contact has opted out', error_code: 'CONTACT_OPTED_OUT', details: { contact_id: optedOut } })
    })
    const reply = await sendMessage(app, session, optedOutConversation, { direction: 'inbound', content: 'STOP' })
    t.equal(reply.statusCode, 201, reply.body)

    const optIn = await app.inject(as(session, { method: 'POST', url: `/api/messaging/contacts/${optedOut}/opt-in/` }))
    t.equal(optIn.statusCode, 200, optIn.body)
    const afterOptIn = await sendMessage(app, session, optedOutConversation)
    t.equal(afterOptIn.statusCode, 201, 'opted in again: messages flow')
  })

  t.test('a deleted contact is not found', async (t) => {
    const leaving = await createContact(app, session, { name: 'Peter Otieno', phone_e164: '+255714000222' })
    const leavingConversation = (await startConversation(app, session, leaving, 'Account')).json().data.id as string
    const deleted = await app.inject(as(session, { method: 'DELETE', url: `/api/messaging/contacts/${leaving}/` }))
    t.equal(deleted.statusCode, 200, deleted.body)
    await appendsNothing(t, database.db, async () => {
      const conversationRefused = await startConversation(app, session, leaving)
      t.equal(conversationRefused.statusCode, 404)
      t.same(conversationRefused.json(), { success: false, message: 'Contact not found' })
      const messageRefused = await sendMessage(app, session, leavingConversation)
      t.equal(messageRefused.statusCode, 404)
      t.same(messageRefused.json(), { success: false, message: 'Contact not found' })
    })
    const lateReply = await sendMessage(app, session, leavingConversation, { direction: 'inbound', content: 'Please keep my order' })
    t.equal(lateReply.statusCode, 201, 'a reply that arrives anyway is recorded')
  })

  t.test('a contact without a phone number gets no outbound messages', async (t) => {
    const emailOnly = await createContact(app, session, { name: 'Grace Njeri', phone_e164: null, email: 'grace@example.com' })
    const response = await startConversation(app, session, emailOnly, 'Invoices')
    t.equal(response.statusCode, 201, response.body)
    t.equal(response.json().data.contact_phone, null)
    await appendsNothing(t, database.db, async () => {
      const refused = await sendMessage(app, session, response.json().data.id)
      t.equal(refused.statusCode, 400)
      t.equal(refused.json().error_code, 'CONTACT_HAS_NO_PHONE')
    })
  })

  t.test('bad input is a 400 in the spec shape', async (t) => {
    await appendsNothing(t, database.db, async () => {
      const missing = await app.inject(as(session, { method: 'POST', url: '/api/messaging/conversations/', payload: { subject: 'Hello' } }))
      t.equal(missing.statusCode, 400)
      t.same(missing.json(), { success: false, message: 'Validation failed', errors: { contact_id: ['This field is required.'] } })

      const wrong = await app.inject(as(session, { method: 'POST', url: '/api/messaging/conversations/', payload: { contact_id: 'nope', subject: 'x'.repeat(201), channel: 'email' } }))
      t.equal(wrong.statusCode, 400)
      t.same(wrong.json(), {
        success: false,
        message: 'Validation failed',
        errors: {
          contact_id: ['Must be a valid uuid.'],
          subject: ['Ensure this field has no more than 200 characters.'],
          channel: ['Must be one of: sms, whatsapp.'],
        },
      })

      const blankSubject = await startConversation(app, session, contactId, '   ')
      t.equal(blankSubject.statusCode, 400)
      t.same(blankSubject.json().errors, { subject: ['This field may not be blank.'] })

      const badMessage = await sendMessage(app, session, conversationId, { content: '', direction: 'sideways' })
      t.equal(badMessage.statusCode, 400)
      t.same(badMessage.json(), {
        success: false,
        message: 'Validation failed',
        errors: { content: ['This field may not be blank.'], direction: ['Must be one of: outbound, inbound.'] },
      })

      const tooLong = await sendMessage(app, session, conversationId, { content: 'x'.repeat(4097) })
      t.equal(tooLong.statusCode, 400)
      t.same(tooLong.json().errors, { content: ['Ensure this field has no more than 4096 characters.'] })

      const badStatus = await reportStatus(app, session, messageId, { status: 'queued' })
      t.equal(badStatus.statusCode, 400)
      t.same(badStatus.json().errors, { status: ['Must be one of: sent, delivered, read, failed.'] })

      const badId = await reportStatus(app, session, 'not-a-uuid', { status: 'sent' })
      t.equal(badId.statusCode, 400)
      t.equal(badId.json().message, 'Validation failed')
    })
  })

  t.test('no token is a 401', async (t) => {
    await appendsNothing(t, database.db, async () => {
      for (const request of [
        { url: '/api/messaging/conversations/', payload: { contact_id: contactId, subject: 'x' } },
        { url: '/api/messaging/messages/', payload: { conversation_id: conversationId, content: 'x' } },
        { url: `/api/messaging/messages/${messageId}/status/`, payload: { status: 'read' } },
      ]) {
        const response = await app.inject({ method: 'POST', ...request })
        t.equal(response.statusCode, 401, request.url)
        t.same(response.json(), { detail: 'Authentication credentials were not provided.' })
      }
    })
  })
})

t.test('campaign messages are queued once', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'messaging_campaign' })
  const { store } = services
  const session = await registerUser(app)
  const contactId = await createContact(app, session, JOHN)
  const context: CommandContext = {
    tenantId: session.tenantId,
    actor: systemActor,
    correlationId: 'campaign-run-1',
    causationId: null,
    ip: null,
    userAgent: null,
    now: new Date(START),
  }
  const input = {
    messageId: '3f2e1d0c-9b8a-4765-8432-10fedcba9876',
    campaignId: 'ab12cd34-ef56-4a78-9b01-c2d3e4f5a6b7',
    contactId,
    to: '+255712345678',
    channel: 'sms' as const,
    content: 'Happy New Year! Get 30% off',
  }
  const first = await queueCampaignMessage(store, context, input)
  t.equal(first.created, true)
  const again = await queueCampaignMessage(store, context, input)
  t.same(again, { created: false, position: first.position }, 'the same append again is a duplicate')
  const laterRun = await queueCampaignMessage(store, { ...context, correlationId: 'campaign-run-2', now: new Date('2026-03-10T10:00:00Z') }, input)
  t.same(laterRun, { created: false, position: first.position }, 'a later run finds the stream already there')

  const events = (await store.readStream(`message-${input.messageId}`)).events
  t.equal(events.length, 1)
  t.match(events[0], {
    type: 'outboundMessageQueued',
    data: { messageId: input.messageId, conversationId: null, campaignId: input.campaignId, contactId, to: '+255712345678', sentBy: { userId: null, name: 'System' }, at: START },
  })

  // the campaign's message answers delivery reports like any other
  const delivered = await reportStatus(app, session, input.messageId, { status: 'delivered' })
  t.equal(delivered.statusCode, 200, delivered.body)
  t.match(delivered.json().data, { campaign_id: input.campaignId, conversation_id: null, status: 'delivered' })
  t.match((await store.readStream(`message-${input.messageId}`)).events[2]?.data, { campaignId: input.campaignId, conversationId: null })

  // a group of messages in one append; again with one more: the existing ones stay as they are
  const group = ['4a1b2c3d-0000-4000-8000-000000000001', '4a1b2c3d-0000-4000-8000-000000000002'].map((messageId) => ({ ...input, messageId }))
  await queueCampaignMessages(store, context, group)
  const more = { ...input, messageId: '4a1b2c3d-0000-4000-8000-000000000003' }
  await queueCampaignMessages(store, { ...context, correlationId: 'campaign-run-2' }, [...group, more, input])
  for (const { messageId } of [...group, more]) {
    const stream = (await store.readStream(`message-${messageId}`)).events
    t.same(stream.map((event) => event.type), ['outboundMessageQueued'], `message ${messageId} queued once`)
  }
  t.equal((await store.readStream(`message-${input.messageId}`)).events.length, 3, 'the delivered one is untouched')
})
