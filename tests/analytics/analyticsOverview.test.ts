import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { sql } from 'kysely'
import { ManualClock } from '../../infra/clock.ts'
import { eventually } from '../support/eventually.ts'
import { as, registerUser, startTestApp, type Session } from '../support/testApp.ts'

/**
 * GET /messaging/analytics/overview/ over data made through the API: every number is checked,
 * status moves (a campaign started then completed, a conversation closed, a template rejected)
 * leave each entity in exactly one bucket, and another tenant's data is never counted.
 */
const MINUTE = 60_000
const OVERVIEW = '/api/messaging/analytics/overview/'

t.test('analytics overview', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { clock, label: 'analytics_overview' })
  let position = 0

  const call = async (session: Session, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown): Promise<LightMyRequestResponse> => {
    const response = await app.inject(as(session, { method, url, ...(payload === undefined ? {} : { payload: payload as object }) }))
    if (response.statusCode < 300) {
      const body = response.json()
      if (typeof body.position === 'number') position = Math.max(position, body.position)
    }
    return response
  }
  const ok = async (session: Session, method: 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) => {
    const response = await call(session, method, url, payload)
    t.ok(response.statusCode === 200 || response.statusCode === 201, `${method} ${url}: ${response.statusCode} ${response.statusCode < 300 ? '' : response.body}`)
    return response.json()
  }
  const overviewOf = async (session: Session) => {
    const response = await call(session, 'GET', `${OVERVIEW}?min_position=${position}`)
    t.equal(response.statusCode, 200, `overview: ${response.statusCode === 200 ? 'answered' : response.body}`)
    t.equal(response.headers['x-read-model-caught-up'], 'true')
    return response.json()
  }

  const alice = await registerUser(app, { tenant_name: 'Kenya Coffee Exports Ltd' })
  const bob = await registerUser(app, { tenant_name: 'Other Tenant' })

  // an empty tenant: every number is there, as zero
  const empty = await overviewOf(alice)
  t.same(Object.keys(empty), ['success', 'data'])
  t.same(empty.data, {
    contacts: { total: 0, active: 0, inactive: 0, opted_in: 0, opted_out: 0, deleted: 0 },
    campaigns: { total: 0, by_status: { draft: 0, scheduled: 0, running: 0, paused: 0, completed: 0, cancelled: 0, failed: 0 } },
    messages: {
      total: 0,
      outbound: 0,
      inbound: 0,
      by_status: { queued: 0, sent: 0, delivered: 0, read: 0, failed: 0, cancelled: 0, received: 0 },
      by_channel: { sms: { outbound: 0, inbound: 0 }, whatsapp: { outbound: 0, inbound: 0 } },
    },
    conversations: { total: 0, open: 0, closed: 0, replied: 0 },
    templates: { total: 0, by_status: { draft: 0, pending: 0, approved: 0, rejected: 0 } },
    rates: { delivery_rate: 0, read_rate: 0, failure_rate: 0, response_rate: 0, opt_in_rate: 0 },
    generated_at: clock.now().toISOString(),
  })

  // contacts: John and Sarah opt in, Peter opts out, Amina is deleted, Idle is inactive
  const contact = async (session: Session, payload: Record<string, unknown>) => (await ok(session, 'POST', '/api/messaging/contacts/', payload)).data.id as string
  const john = await contact(alice, { name: 'John Kamau', phone_e164: '+255700000001' })
  const sarah = await contact(alice, { name: 'Sarah Mwangi', phone_e164: '0700000002' })
  const peter = await contact(alice, { name: 'Peter Otieno', phone_e164: '+255700000003' })
  const amina = await contact(alice, { name: 'Amina Juma', email: 'amina@example.com' })
  await contact(alice, { name: 'Idle Contact', phone_e164: '+255700000005', is_active: false })
  await ok(alice, 'POST', `/api/messaging/contacts/${john}/opt-in/`)
  await ok(alice, 'POST', `/api/messaging/contacts/${sarah}/opt-in/`)
  await ok(alice, 'POST', `/api/messaging/contacts/${peter}/opt-in/`)
  await ok(alice, 'POST', `/api/messaging/contacts/${peter}/opt-out/`, { reason: 'Too many messages' })
  await ok(alice, 'DELETE', `/api/messaging/contacts/${amina}/`)
  // an upsert that changes nothing about consent or activity moves nothing
  await ok(alice, 'POST', '/api/messaging/contacts/', { name: 'John K.', phone_e164: '+255700000001' })

  // the other tenant's data, which must never show in alice's numbers
  const bobContact = await contact(bob, { name: 'Bob Contact', phone_e164: '+255700000099', is_opted_in: true })
  const bobConversation = (await ok(bob, 'POST', '/api/messaging/conversations/', { contact_id: bobContact, subject: 'Elsewhere' })).data.id
  await ok(bob, 'POST', '/api/messaging/messages/', { conversation_id: bobConversation, content: 'Not yours' })
  await ok(bob, 'POST', '/api/messaging/templates/', { name: 'Bob template', channel: 'sms', category: 'marketing', language: 'en', content: 'Hi' })

  let data = (await overviewOf(alice)).data
  t.same(data.contacts, { total: 4, active: 3, inactive: 1, opted_in: 2, opted_out: 1, deleted: 1 }, 'deleted contacts are outside the totals')
  t.equal(data.rates.opt_in_rate, 50)

  // templates: one approved, one rejected, one left a draft, one deleted
  const template = async (name: string) =>
    (await ok(alice, 'POST', '/api/messaging/templates/', { name, channel: 'sms', category: 'marketing', language: 'en', content: `Hello {{name}} from ${name}` })).data.id as string
  const approved = await template('Approved one')
  const rejected = await template('Rejected one')
  await template('Draft one')
  const deleted = await template('Deleted one')
  await ok(alice, 'POST', `/api/messaging/templates/${approved}/approve/`)
  await ok(alice, 'POST', `/api/messaging/templates/${rejected}/submit/`)
  data = (await overviewOf(alice)).data
  t.same(data.templates, { total: 4, by_status: { draft: 2, pending: 1, approved: 1, rejected: 0 } })
  await ok(alice, 'POST', `/api/messaging/templates/${rejected}/reject/`, { reason: 'Wording' })
  await ok(alice, 'DELETE', `/api/messaging/templates/${deleted}/`)
  data = (await overviewOf(alice)).data
  t.same(data.templates, { total: 3, by_status: { draft: 1, pending: 0, approved: 1, rejected: 1 } }, 'each move leaves one bucket for another')

  // campaigns: one started (to John and Sarah), one left a draft, one cancelled
  const campaign = async (name: string, targets: string[]) =>
    (await ok(alice, 'POST', '/api/messaging/campaigns/', { name, campaign_type: 'sms', message_text: `${name}: 20% off today`, target_contact_ids: targets })).data.id as string
  const launched = await campaign('Launched', [john, sarah])
  await campaign('Draft', [john])
  const cancelled = await campaign('Cancelled', [sarah])
  await ok(alice, 'POST', `/api/messaging/campaigns/${cancelled}/cancel/`)
  await ok(alice, 'POST', `/api/messaging/campaigns/${launched}/start/`)
  data = (await overviewOf(alice)).data
  t.same(data.campaigns, { total: 3, by_status: { draft: 1, scheduled: 0, running: 1, paused: 0, completed: 0, cancelled: 1, failed: 0 } })

  // the campaign sender queues one message per recipient; the provider reports come back
  const campaignMessages = await eventually(
    async () => (await call(alice, 'GET', `/api/messaging/messages/?campaign_id=${launched}`)).json().data,
    (list) => list.count === 2,
  )
  const [first, second] = campaignMessages.results as { id: string }[]
  await ok(alice, 'POST', `/api/messaging/messages/${first!.id}/status/`, { status: 'read' })
  await ok(alice, 'POST', `/api/messaging/messages/${second!.id}/status/`, { status: 'failed', reason: 'Absent subscriber' })
  clock.advance(MINUTE)
  // every message of the campaign has a final outcome now: it completes by itself
  await eventually(
    async () => (await call(alice, 'GET', `/api/messaging/campaigns/${launched}/`)).json().data.status,
    (status) => status === 'completed',
  )

  // conversations: John replies on one, Sarah never does on the other, which is then closed
  const withJohn = (await ok(alice, 'POST', '/api/messaging/conversations/', { contact_id: john, subject: 'Order 1001' })).data.id
  const withSarah = (await ok(alice, 'POST', '/api/messaging/conversations/', { contact_id: sarah, subject: 'Order 1002', channel: 'whatsapp' })).data.id
  const shipped = (await ok(alice, 'POST', '/api/messaging/messages/', { conversation_id: withJohn, content: 'Your order has shipped.' })).data.id
  const arriving = (await ok(alice, 'POST', '/api/messaging/messages/', { conversation_id: withJohn, content: 'It arrives tomorrow.' })).data.id
  await ok(alice, 'POST', '/api/messaging/messages/', { conversation_id: withSarah, content: 'Your order is ready.' })
  await ok(alice, 'POST', `/api/messaging/messages/${shipped}/status/`, { status: 'delivered' })
  await ok(alice, 'POST', `/api/messaging/messages/${arriving}/status/`, { status: 'sent' })
  await ok(alice, 'POST', '/api/messaging/messages/', { conversation_id: withJohn, direction: 'inbound', content: 'Thank you!' })
  await ok(alice, 'PUT', `/api/messaging/conversations/${withSarah}/`, { status: 'closed' })

  const overview = await overviewOf(alice)
  t.equal(overview.success, true)
  t.same(overview.data, {
    contacts: { total: 4, active: 3, inactive: 1, opted_in: 2, opted_out: 1, deleted: 1 },
    campaigns: { total: 3, by_status: { draft: 1, scheduled: 0, running: 0, paused: 0, completed: 1, cancelled: 1, failed: 0 } },
    messages: {
      total: 6,
      outbound: 5,
      inbound: 1,
      by_status: { queued: 1, sent: 1, delivered: 1, read: 1, failed: 1, cancelled: 0, received: 1 },
      by_channel: { sms: { outbound: 4, inbound: 1 }, whatsapp: { outbound: 1, inbound: 0 } },
    },
    conversations: { total: 2, open: 1, closed: 1, replied: 1 },
    templates: { total: 3, by_status: { draft: 1, pending: 0, approved: 1, rejected: 1 } },
    rates: {
      delivery_rate: 66.7, // delivered or read (2) of sent — accepted by the provider — (3: the failed one never was)
      read_rate: 50, // read (1) of delivered (2)
      failure_rate: 20,
      response_rate: 50,
      opt_in_rate: 50,
    },
    generated_at: clock.now().toISOString(),
  })

  // the other tenant sees only its own
  const other = (await overviewOf(bob)).data
  t.same(other.contacts, { total: 1, active: 1, inactive: 0, opted_in: 1, opted_out: 0, deleted: 0 })
  t.same(other.messages.by_status, { queued: 1, sent: 0, delivered: 0, read: 0, failed: 0, cancelled: 0, received: 0 })
  t.equal(other.conversations.total, 1)
  t.equal(other.templates.total, 1)
  t.equal(other.campaigns.total, 0)

  await t.test('refusals', async (t) => {
    const anonymous = await app.inject({ method: 'GET', url: OVERVIEW })
    t.equal(anonymous.statusCode, 401)
    t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })
    const badPosition = await app.inject(as(alice, { method: 'GET', url: `${OVERVIEW}?min_position=soon` }))
    t.equal(badPosition.statusCode, 400)
    t.match(badPosition.json(), { success: false, message: 'Validation failed', errors: { min_position: [String] } })
    const negative = await app.inject(as(alice, { method: 'GET', url: `${OVERVIEW}?min_position=-1` }))
    t.equal(negative.statusCode, 400)
    const withoutSlash = await app.inject(as(alice, { method: 'GET', url: '/api/messaging/analytics/overview' }))
    t.equal(withoutSlash.statusCode, 200, 'the path answers without its trailing slash too')
  })

  await t.test('the counters equal a count of the entities themselves', async (t) => {
    // an independent check: the message read model's statuses for alice's tenant
    t.ok(await services.engine.waitFor('message_history', position, 30_000))
    const { rows } = await sql<{ status: string; n: number }>`
      select status, count(*)::int as n from proj_message_history.messages where tenant_id = ${alice.tenantId} group by status order by status`.execute(services.database.db)
    const byStatus = Object.fromEntries(rows.map((row) => [row.status, row.n]))
    for (const [status, count] of Object.entries(overview.data.messages.by_status as Record<string, number>)) t.equal(byStatus[status] ?? 0, count, status)
  })
})
