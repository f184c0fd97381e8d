import t from 'tap'
import { systemActor, type CommandContext } from '../../commands/commandContext.ts'
import { receiveInboundMessage } from '../../commands/messages/messageCommands.ts'
import { ManualClock } from '../../infra/clock.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { createContact } from '../support/messagingFixtures.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

/**
 * Route policies of the template, conversation and message routes (rate-limit groups, idempotent
 * creates), and a provider's redelivered reply to a conversation closed again meanwhile.
 */
t.test('rate-limit groups and idempotent creates', async (t) => {
  const { app } = await startTestApp(t, { label: 'messaging_policies', env: { RATE_LIMITS_ENABLED: 'true' } })
  const session = await registerUser(app)
  const contactId = await createContact(app, session, { name: 'John Kamau', phone_e164: '+255712345678' })

  const template = { name: 'Welcome', channel: 'sms', category: 'onboarding', language: 'en', content: 'Hi {{name}}' }
  const key = { 'idempotency-key': 'template-create-1' }
  const first = await app.inject(as(session, { method: 'POST', url: '/api/messaging/templates/', payload: template, headers: key }))
  t.equal(first.statusCode, 201, first.body)
  t.equal(first.headers['x-ratelimit-limit'], '100', 'templates: the default group')
  const replay = await app.inject(as(session, { method: 'POST', url: '/api/messaging/templates/', payload: template, headers: key }))
  t.equal(replay.statusCode, 201)
  t.equal(replay.json().data.id, first.json().data.id, 'the same key creates one template')

  const conversationBody = { contact_id: contactId, subject: 'Orders' }
  const conversationKey = { 'idempotency-key': 'conversation-create-1' }
  const started = await app.inject(as(session, { method: 'POST', url: '/api/messaging/conversations/', payload: conversationBody, headers: conversationKey }))
  t.equal(started.statusCode, 201, started.body)
  const again = await app.inject(as(session, { method: 'POST', url: '/api/messaging/conversations/', payload: conversationBody, headers: conversationKey }))
  t.equal(again.json().data.id, started.json().data.id, 'the same key starts one conversation')
  const conversationId = started.json().data.id

  const messageKey = { 'idempotency-key': 'message-send-1' }
  const sent = await app.inject(as(session, { method: 'POST', url: '/api/messaging/messages/', payload: { conversation_id: conversationId, content: 'Hello' }, headers: messageKey }))
  t.equal(sent.statusCode, 201, sent.body)
  t.equal(sent.headers['x-ratelimit-limit'], '10', 'sending a message: the SMS sending group')
  const resent = await app.inject(as(session, { method: 'POST', url: '/api/messaging/messages/', payload: { conversation_id: conversationId, content: 'Hello' }, headers: messageKey }))
  t.equal(resent.json().data.id, sent.json().data.id, 'the same key sends one message')

  for (const url of ['/api/messaging/templates/', '/api/messaging/conversations/', `/api/messaging/conversations/${conversationId}/messages/`]) {
    const response = await app.inject(as(session, { method: 'GET', url }))
    t.equal(response.headers['x-ratelimit-limit'], '100', `${url}: the default group`)
  }
})

t.test('a redelivered reply to a conversation closed again changes nothing', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { clock, label: 'reply_redelivery' })
  const { store, database } = services
  const session = await registerUser(app)
  const contactId = await createContact(app, session, { name: 'John Kamau', phone_e164: '+255712345678' })
  const conversationId = (await app.inject(as(session, { method: 'POST', url: '/api/messaging/conversations/', payload: { contact_id: contactId, subject: 'Orders' } }))).json().data.id
  const close = () => app.inject(as(session, { method: 'PUT', url: `/api/messaging/conversations/${conversationId}/`, payload: { status: 'closed' } }))
  t.equal((await close()).statusCode, 200)

  // a provider's webhook (later) records replies as the system, with the provider's message id
  const context: CommandContext = { tenantId: session.tenantId, actor: systemActor, correlationId: 'webhook', causationId: null, ip: null, userAgent: null, now: clock.now() }
  const reply = { conversationId, content: 'Is my order ready?', messageId: '5b0c9e4a-1f2d-4c3b-9a8e-7d6c5b4a3f21' }
  const delivered = await receiveInboundMessage(store, context, reply)
  t.equal(delivered.created, true)
  t.match((await store.readStream(`conversation-${conversationId}`)).events.at(-1), { type: 'conversationReopened', data: { trigger: 'inbound_message', messageId: reply.messageId, reopenedBy: { userId: null, name: 'System' } } })

  t.equal((await close()).statusCode, 200)
  const before = await committedEventCount(database.db)
  const redelivered = await receiveInboundMessage(store, { ...context, now: new Date('2026-03-10T09:05:00Z') }, reply)
  const [recorded] = (await store.readStream(`message-${reply.messageId}`)).events
  t.same({ created: redelivered.created, position: redelivered.position, id: redelivered.message.messageId }, { created: false, position: recorded!.position, id: reply.messageId })
  t.ok(delivered.position >= recorded!.position, 'the first answer covers the message and the reopening')
  t.equal(await committedEventCount(database.db), before, 'nothing appended: the reply was recorded once')
  t.equal((await store.readStream(`conversation-${conversationId}`)).events.at(-1)?.type, 'conversationClosed', 'the conversation stays closed')
})
