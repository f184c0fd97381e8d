import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { appendsNothing, committedEventCount } from '../support/eventLog.ts'
import { MessagingClient } from '../support/messagingFixtures.ts'
import { registerUser, startTestApp } from '../support/testApp.ts'
import { postSigned, webhookSecretOf } from '../support/webhooks.ts'

/**
 * POST /api/messaging/sms/inbound/: an SMS from a number becomes a reply of that number's contact
 * (created when unknown) in its newest open SMS conversation (started when there is none); a
 * redelivered webhook records nothing new.
 */
const INBOUND = '/api/messaging/sms/inbound/'

t.test('inbound SMS', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { label: 'inbound_sms', clock })
  const db = services.database.db
  const admin = await registerUser(app)
  const secret = await webhookSecretOf(app, admin)
  const client = new MessagingClient(app, admin)
  const inbound = (body: object) => postSigned(app, clock, INBOUND, { tenantId: admin.tenantId, secret, body })
  const sms = (providerId: string, from: string, text: string) => ({ provider_message_id: providerId, from, to: 'MIFUMO', text, received_at: clock.now().toISOString() })
  const track = (body: { position?: number }) => (client.position = Math.max(client.position, body.position ?? 0))

  await t.test('from a known number: a reply in the contact open conversation', async (t) => {
    const contactId = (await client.post('/api/messaging/contacts/', { name: 'John Kamau', phone_e164: '+255712000401' })).data.id
    const older = (await client.post('/api/messaging/conversations/', { contact_id: contactId, subject: 'Old order', channel: 'sms' })).data.id
    clock.advance(60_000)
    const newer = (await client.post('/api/messaging/conversations/', { contact_id: contactId, subject: 'Kenya Coffee Exports', channel: 'sms' })).data.id
    const whatsapp = (await client.post('/api/messaging/conversations/', { contact_id: contactId, subject: 'On WhatsApp', channel: 'whatsapp' })).data.id
    clock.advance(60_000)

    // the local form of the number, read in the tenant's country
    const response = await inbound(sms('in-1', '0712 000 401', 'Thank you, the coffee arrived'))
    t.equal(response.statusCode, 201, response.body)
    const body = response.json()
    track(body)
    t.match(body, { success: true, data: { conversation_id: newer, contact_id: contactId, created: true } })
    t.not(body.data.conversation_id, older)
    t.not(body.data.conversation_id, whatsapp)

    const message = (await client.get(`/api/messaging/messages/${body.data.message_id}/`)).data
    t.match(message, { direction: 'inbound', status: 'received', content: 'Thank you, the coffee arrived', conversation_id: newer, contact_id: contactId })
    const activity = (await client.get('/api/messaging/activity/recent/?type=conversation_reply')).data.activities
    t.match(activity[0], {
      id: `msg_${body.data.message_id}`,
      type: 'conversation_reply',
      title: 'John Kamau replied to conversation Kenya Coffee Exports',
      metadata: { conversation_id: newer, message_id: body.data.message_id },
    })
    const conversation = (await client.get(`/api/messaging/conversations/${newer}/`)).data
    t.match(conversation, { unread_count: 1, message_count: 1 })

    await t.test('redelivered: the same answer, nothing appended', async (t) => {
      await appendsNothing(t, db, async () => {
        const again = await inbound(sms('in-1', '+255712000401', 'Thank you, the coffee arrived'))
        t.equal(again.statusCode, 200)
        t.same(again.json().data, { ...body.data, created: false })
      })
    })

    await t.test('a closed conversation is not replied into: the newest open one is', async (t) => {
      const closed = await app.inject({
        method: 'PUT',
        url: `/api/messaging/conversations/${newer}/`,
        headers: admin.headers,
        payload: { status: 'closed' },
      })
      t.equal(closed.statusCode, 200, closed.body)
      track(closed.json())
      const next = await inbound(sms('in-2', '+255712000401', 'One more thing'))
      t.equal(next.statusCode, 201)
      t.equal(next.json().data.conversation_id, older, 'the other open SMS conversation')
    })
  })

  await t.test('from an unknown number: a new contact and a new conversation', async (t) => {
    const before = await committedEventCount(db)
    const response = await inbound(sms('in-3', '+255 712 000 499', 'Hello, is this the shop?'))
    t.equal(response.statusCode, 201, response.body)
    const body = response.json()
    track(body)
    t.ok((await committedEventCount(db)) > before)
    const contact = (await client.get(`/api/messaging/contacts/${body.data.contact_id}/`)).data
    t.match(contact, { name: '+255712000499', phone_e164: '+255712000499' })
    const conversation = (await client.get(`/api/messaging/conversations/${body.data.conversation_id}/`)).data
    t.match(conversation, { subject: 'SMS from +255712000499', channel: 'sms', status: 'open', contact_id: body.data.contact_id, message_count: 1 })
    const activity = (await client.get('/api/messaging/activity/recent/?type=conversation_reply')).data.activities
    t.match(activity[0], { id: `msg_${body.data.message_id}`, title: '+255712000499 replied to conversation SMS from +255712000499' })

    await appendsNothing(t, db, async () => {
      const again = await inbound(sms('in-3', '+255712000499', 'Hello, is this the shop?'))
      t.same(again.json().data, { ...body.data, created: false }, 'redelivered: nothing new')
    })

    const followUp = await inbound(sms('in-4', '+255712000499', 'Hello?'))
    t.match(followUp.json().data, { contact_id: body.data.contact_id, conversation_id: body.data.conversation_id, created: true }, 'the next one joins that conversation')
  })

  await t.test('bad input', async (t) => {
    for (const [body, field] of [
      [sms('in-5', 'MPESA', 'not a number'), 'from'],
      [{ ...sms('in-6', '+255712000401', 'x'), provider_message_id: '' }, 'provider_message_id'],
      [{ from: '+255712000401', text: 'x' }, 'provider_message_id'],
    ] as const) {
      await appendsNothing(t, db, async () => {
        const response = await inbound(body)
        t.equal(response.statusCode, 400, response.body)
        t.ok(response.json().errors[field], `a field error on ${field}`)
      })
    }
  })
})
