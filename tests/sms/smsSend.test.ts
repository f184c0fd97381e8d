import { randomUUID } from 'node:crypto'
import t from 'tap'
import { sql, type Kysely } from 'kysely'
import { buildApp } from '../../app.ts'
import { ManualClock } from '../../infra/clock.ts'
import type { SmsProvider } from '../../infra/sms/smsProvider.ts'
import { topUpCredits } from '../support/credits.ts'
import { appendsNothing } from '../support/eventLog.ts'
import { MessagingClient } from '../support/messagingFixtures.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

/**
 * POST /api/messaging/sms/send/: one SMS per distinct valid recipient (new numbers become
 * contacts, opted-out contacts get nothing), all paid in the same atomic append as one credit
 * consumption; too few credits is a 402 with nothing appended. GET /sms/{id}/status/ and
 * GET /sms/test-connection/.
 */
const SEND = '/api/messaging/sms/send/'

async function consumptions(db: Kysely<any>): Promise<{ parts: number; reference: { kind: string; id: string } }[]> {
  const { rows } = await sql<{ data: { parts: number; reference: { kind: string; id: string } } }>`select data from es_events where event_type = 'smsCreditsConsumed' order by position`.execute(db)
  return rows.map((row) => (typeof row.data === 'string' ? JSON.parse(row.data) : row.data))
}

t.test('sending SMS to numbers', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { label: 'sms_send', clock })
  const db = services.database.db
  const admin = await registerUser(app)
  const client = new MessagingClient(app, admin)
  const send = (payload: object, headers: Record<string, string> = {}) => app.inject(as(admin, { method: 'POST', url: SEND, payload, headers }))
  const status = (id: string, session = admin) => app.inject(as(session, { method: 'GET', url: `/api/messaging/sms/${id}/status/` }))

  const known = (await client.post('/api/messaging/contacts/', { name: 'Jane Smith', phone_e164: '+255712000501' })).data.id
  const optedOut = (await client.post('/api/messaging/contacts/', { name: 'Opted Out', phone_e164: '+255712000504' })).data.id
  await client.post(`/api/messaging/contacts/${optedOut}/opt-out/`, { reason: 'STOP' })

  const response = await send({
    message: 'Hello from Mifumo!',
    recipients: ['+255712000501', '0712000502', '255712000503', 'not a phone', '+255 712 000 501', '+255712000504'],
    sender_id: 'MIFUMO',
  })
  t.equal(response.statusCode, 201, response.body)
  const body = response.json()
  t.ok(body.position > 0)
  t.equal(response.headers['x-event-position'], String(body.position))
  const data = body.data
  t.match(data, {
    total_recipients: 3,
    sender_id: 'MIFUMO',
    parts_per_message: 1,
    total_parts: 3,
    estimated_cost: 0.75,
    currency: 'USD',
    balance_after: 97,
  })
  t.equal(data.message_ids.length, 3)
  t.same(
    data.recipients.map((r: { phone_number: string; status: string }) => [r.phone_number, r.status]),
    [
      ['+255712000501', 'queued'],
      ['0712000502', 'queued'],
      ['255712000503', 'queued'],
      ['not a phone', 'invalid'],
      ['+255 712 000 501', 'duplicate'],
      ['+255712000504', 'opted_out'],
    ],
  )
  t.match(data.recipients[0], { phone_e164: '+255712000501', contact_id: known, message_id: data.message_ids[0] })
  t.match(data.recipients[1], { phone_e164: '+255712000502', message_id: data.message_ids[1] })
  t.match(data.recipients[2], { phone_e164: '+255712000503', message_id: data.message_ids[2] })
  t.match(data.recipients[3], { phone_e164: null, reason: 'Invalid phone number' })
  t.notOk(data.recipients[3].message_id)
  t.match(data.recipients[5], { contact_id: optedOut, reason: 'Contact has opted out' })
  t.notOk(data.recipients[5].message_id)

  const paid = await consumptions(db)
  t.same(paid, [{ ...paid[0], parts: 3, reference: { kind: 'sms_send', id: data.batch_id } }], 'one consumption for the whole batch')

  await t.test('the messages and the new contacts', async (t) => {
    const first = await status(data.message_ids[1])
    t.equal(first.statusCode, 200)
    t.same(Object.keys(first.json().data).sort(), [
      'batch_id', 'campaign_id', 'cancellation_reason', 'cancelled_at', 'channel', 'contact_id', 'conversation_id', 'created_at', 'delivered_at', 'direction',
      'failed_at', 'failure_reason', 'from', 'id', 'provider_message_id', 'read_at', 'sender_id', 'sent_at', 'status', 'to', 'updated_at',
    ])
    t.match(first.json().data, {
      id: data.message_ids[1],
      status: 'queued',
      direction: 'outbound',
      channel: 'sms',
      to: '+255712000502',
      batch_id: data.batch_id,
      sender_id: 'MIFUMO',
      conversation_id: null,
      campaign_id: null,
      provider_message_id: null,
      sent_at: null,
      created_at: '2026-03-10T09:00:00.000Z',
    })
    client.position = body.position
    const contact = (await client.get(`/api/messaging/contacts/${data.recipients[1].contact_id}/`)).data
    t.match(contact, { name: '+255712000502', phone_e164: '+255712000502' })
    const listed = (await client.get(`/api/messaging/messages/?direction=outbound`)).data
    t.equal(listed.count, 3, 'the message list shows them')
  })

  await t.test('status: other tenants and unknown ids are not found', async (t) => {
    const other = await registerUser(app)
    t.equal((await status(data.message_ids[0], other)).statusCode, 404)
    t.equal((await status(randomUUID())).statusCode, 404)
    t.equal((await status('not-an-id')).statusCode, 404)
    t.equal((await app.inject({ method: 'GET', url: `/api/messaging/sms/${data.message_ids[0]}/status/` })).statusCode, 401)
  })

  await t.test('too few credits: 402 and nothing appended, then a top-up', async (t) => {
    // 97 parts left; a two-part message to 50 new numbers needs 100
    const recipients = Array.from({ length: 50 }, (_, i) => `+2557130006${String(i).padStart(2, '0')}`)
    const message = 'x'.repeat(200)
    await appendsNothing(t, db, async () => {
      const refused = await send({ message, recipients })
      t.equal(refused.statusCode, 402, refused.body)
      t.match(refused.json(), { success: false, error_code: 'INSUFFICIENT_BALANCE', details: { required_parts: 100, available_parts: 97 } })
    })
    await topUpCredits(services, admin.tenantId, 10)
    const accepted = await send({ message, recipients })
    t.equal(accepted.statusCode, 201, accepted.body)
    t.match(accepted.json().data, { total_recipients: 50, parts_per_message: 2, total_parts: 100, estimated_cost: 25, balance_after: 7 })
    t.equal(accepted.json().data.recipients.filter((r: { status: string }) => r.status === 'queued').length, 50, 'the new contacts were not created by the refused try')
  })

  await t.test('Idempotency-Key: the same request answers the same, once', async (t) => {
    const payload = { message: 'Replay me', recipients: ['+255712000501'] }
    const first = await send(payload, { 'idempotency-key': 'send-once-1' })
    t.equal(first.statusCode, 201)
    await appendsNothing(t, db, async () => {
      const again = await send(payload, { 'idempotency-key': 'send-once-1' })
      t.equal(again.statusCode, 201)
      t.equal(again.headers['idempotent-replayed'], 'true')
      t.same(again.json(), first.json())
    })
    const other = await send({ ...payload, message: 'Another text' }, { 'idempotency-key': 'send-once-1' })
    t.equal(other.statusCode, 422)
  })

  await t.test('concurrent sends to one new number make one contact', async (t) => {
    const responses = await Promise.all(Array.from({ length: 5 }, () => send({ message: 'Race', recipients: ['+255712000777'] })))
    t.same(responses.map((response) => response.statusCode), [201, 201, 201, 201, 201])
    const contacts = new Set(responses.map((response) => response.json().data.recipients[0].contact_id))
    t.equal(contacts.size, 1, 'every request found or made the same contact')
    t.equal(new Set(responses.map((response) => response.json().data.batch_id)).size, 5, 'five batches')
  })

  await t.test('refusals', async (t) => {
    await appendsNothing(t, db, async () => {
      const none = await send({ message: 'Hello', recipients: ['nope', '+255712000504'] })
      t.equal(none.statusCode, 400)
      t.match(none.json(), { success: false, error_code: 'NO_RECIPIENTS', details: { recipients: [{ status: 'invalid' }, { status: 'opted_out' }] } })
      for (const [payload, field] of [
        [{ message: 'Hello', recipients: [] }, 'recipients'],
        [{ message: '   ', recipients: ['+255712000501'] }, 'message'],
        [{ recipients: ['+255712000501'] }, 'message'],
        [{ message: 'Hello', recipients: ['+255712000501'], sender_id: 'MUCH TOO LONG' }, 'sender_id'],
        [{ message: 'Hello', recipients: '+255712000501' }, 'recipients'],
      ] as const) {
        const response = await send(payload)
        t.equal(response.statusCode, 400, JSON.stringify(payload))
        t.ok(response.json().errors?.[field], `field error on ${field}: ${response.body}`)
      }
    })
  })

  await t.test('test-connection', async (t) => {
    const response = await app.inject(as(admin, { method: 'GET', url: '/api/messaging/sms/test-connection/' }))
    t.equal(response.statusCode, 200)
    const check = response.json()
    t.match(check, { success: true, data: { ok: true, provider: 'simulator', latency_ms: Number, detail: /SMS simulator/ } })
    t.same(Object.keys(check.data).sort(), ['detail', 'latency_ms', 'ok', 'provider'])
    t.equal((await app.inject({ method: 'GET', url: '/api/messaging/sms/test-connection/' })).statusCode, 401)

    // a provider whose check throws is an answer, not a 5xx
    const broken: SmsProvider = {
      name: 'broken',
      send: async () => {
        throw new Error('no')
      },
      testConnection: async () => {
        throw new Error('connection refused')
      },
    }
    const brokenApp = await buildApp({ ...services, provider: broken })
    t.teardown(() => brokenApp.close())
    const failing = await brokenApp.inject(as(admin, { method: 'GET', url: '/api/messaging/sms/test-connection/' }))
    t.equal(failing.statusCode, 200)
    t.match(failing.json(), { success: true, data: { ok: false, provider: 'broken', latency_ms: Number, detail: /connection refused/ } })
  })
})
