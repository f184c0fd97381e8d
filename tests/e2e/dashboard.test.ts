import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { ManualClock } from '../../infra/clock.ts'
import { eventually } from '../support/eventually.ts'
import { as, registerUser, startTestApp, type Session } from '../support/testApp.ts'

/**
 * The walking skeleton end to end, through HTTP only: register, log in, contacts one by one and in
 * bulk, a template approved, a campaign started and completed, a conversation with a reply; then
 * the three dashboard endpoints answer with the spec's shapes and the numbers this test expects.
 */
const MINUTE = 60_000

t.test('dashboard end to end', async (t) => {
  // Tuesday 10 March 2026, 12:00 in Dar es Salaam (UTC+3)
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app } = await startTestApp(t, { clock, label: 'e2e_dashboard' })
  let position = 0

  const call = async (session: Session, method: 'GET' | 'POST', url: string, payload?: unknown): Promise<LightMyRequestResponse> => {
    const response = await app.inject(as(session, { method, url, ...(payload === undefined ? {} : { payload: payload as object }) }))
    const body = response.json()
    if (typeof body.position === 'number') position = Math.max(position, body.position)
    return response
  }
  const expectStatus = (response: LightMyRequestResponse, status: number, what: string) => {
    t.equal(response.statusCode, status, `${what}: ${response.statusCode} ${response.statusCode === status ? '' : response.body}`)
    return response.json()
  }

  // register, then log in with the same credentials
  await registerUser(app, { email: 'david@example.com', first_name: 'David', last_name: 'Ochieng', tenant_name: 'Kenya Coffee Exports Ltd' })
  const login = await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email: 'david@example.com', password: 'correct horse battery' } })
  const loginBody = expectStatus(login, 200, 'login')
  t.ok(loginBody.data.access && loginBody.data.refresh, 'login returns tokens')
  const session: Session = {
    access: loginBody.data.access,
    refresh: loginBody.data.refresh,
    userId: loginBody.data.user.id,
    tenantId: loginBody.data.user.tenant_id,
    headers: { authorization: `Bearer ${loginBody.data.access}` },
  }

  // three contacts one by one
  const john = expectStatus(await call(session, 'POST', '/api/messaging/contacts/', { name: 'John Kamau', phone_e164: '+255700000001' }), 201, 'add John').data
  clock.advance(MINUTE)
  const sarah = expectStatus(await call(session, 'POST', '/api/messaging/contacts/', { name: 'Sarah Mwangi', phone_e164: '0700000002' }), 201, 'add Sarah').data
  clock.advance(MINUTE)
  const amina = expectStatus(await call(session, 'POST', '/api/messaging/contacts/', { name: 'Amina Juma', email: 'amina@example.com' }), 201, 'add Amina').data
  expectStatus(await call(session, 'POST', `/api/messaging/contacts/${john.id}/opt-in/`), 200, 'opt in John')
  expectStatus(await call(session, 'POST', `/api/messaging/contacts/${sarah.id}/opt-in/`), 200, 'opt in Sarah')
  clock.advance(MINUTE)

  // four more in bulk (plus one bad row, which is rejected and not counted)
  const bulk = expectStatus(
    await call(session, 'POST', '/api/messaging/contacts/bulk-import/', [
      { name: 'Bulk One', phone_e164: '+255700000011' },
      { name: 'Bulk Two', phone_e164: '+255700000012' },
      { name: 'Bulk Three', phone_e164: '+255700000013' },
      { name: 'Bulk Four', phone_e164: '+255700000014', is_opted_in: true },
      { name: 'Broken', phone_e164: 'not a phone' },
    ]),
    200,
    'bulk import',
  ).data
  t.equal(bulk.created, 4)
  t.equal(bulk.rejected, 1)
  clock.advance(MINUTE)

  // a template, approved
  const template = expectStatus(
    await call(session, 'POST', '/api/messaging/templates/', { name: 'Welcome Message - Swahili', channel: 'whatsapp', category: 'onboarding', language: 'sw', content: 'Karibu {{name}}!' }),
    201,
    'create template',
  ).data
  expectStatus(await call(session, 'POST', `/api/messaging/templates/${template.id}/approve/`), 200, 'approve template')
  clock.advance(MINUTE)

  // a campaign to John, Sarah and Amina: Amina never opted in, so two recipients
  const campaign = expectStatus(
    await call(session, 'POST', '/api/messaging/campaigns/', {
      name: "Mother's Day Promotion",
      campaign_type: 'sms',
      message_text: 'Happy Mother’s Day! 20% off today.',
      target_contact_ids: [john.id, sarah.id, amina.id],
    }),
    201,
    'create campaign',
  ).data
  t.equal(campaign.total_recipients, 2)
  const started = expectStatus(await call(session, 'POST', `/api/messaging/campaigns/${campaign.id}/start/`), 200, 'start campaign')
  t.equal(started.campaign.status, 'running')
  const startedAt = clock.now()

  // the campaign sender queues one message per recipient; the provider reports come back as statuses
  const campaignMessages = await eventually(
    async () => (await call(session, 'GET', `/api/messaging/messages/?campaign_id=${campaign.id}`)).json().data,
    (data) => data.count === 2,
  )
  const [first, second] = campaignMessages.results
  // (the delivered report implies the send; the second is reported sent, and fails after the
  // campaign was completed by hand: were both outcomes in first, the campaign would complete by itself)
  expectStatus(await call(session, 'POST', `/api/messaging/messages/${first.id}/status/`, { status: 'delivered' }), 200, 'first delivered')
  expectStatus(await call(session, 'POST', `/api/messaging/messages/${second.id}/status/`, { status: 'sent' }), 200, 'second sent')
  clock.advance(MINUTE)
  const completed = expectStatus(await call(session, 'POST', `/api/messaging/campaigns/${campaign.id}/complete/`), 200, 'complete campaign')
  t.equal(completed.campaign.sent_count, 2)
  t.equal(completed.campaign.delivered_count, 1)
  t.equal(completed.campaign.delivery_rate, 50)
  expectStatus(await call(session, 'POST', `/api/messaging/messages/${second.id}/status/`, { status: 'failed', reason: 'Absent subscriber' }), 200, 'second failed')
  clock.advance(MINUTE)

  // a conversation with John: we write, he replies
  const conversation = expectStatus(
    await call(session, 'POST', '/api/messaging/conversations/', { contact_id: john.id, subject: 'Kenya Coffee Exports' }),
    201,
    'start conversation',
  ).data
  const shipped = expectStatus(await call(session, 'POST', '/api/messaging/messages/', { conversation_id: conversation.id, content: 'Your order has shipped.' }), 201, 'send message').data
  // "sent" means the provider accepted it: the counts below count the three messages it accepted
  expectStatus(await call(session, 'POST', `/api/messaging/messages/${shipped.id}/status/`, { status: 'sent' }), 200, 'message sent')
  clock.advance(MINUTE)
  const reply = expectStatus(
    await call(session, 'POST', '/api/messaging/messages/', {
      conversation_id: conversation.id,
      direction: 'inbound',
      content: 'Thank you for the quick response, the coffee arrived in perfect condition',
    }),
    201,
    'receive reply',
  ).data
  const repliedAt = clock.now()

  // ---- the three endpoints, read after the last command's position ----
  const recent = expectStatus(await call(session, 'GET', `/api/messaging/activity/recent/?limit=20&min_position=${position}`), 200, 'recent activity')
  t.equal(recent.success, true)
  const activities = recent.data.activities as { id: string; type: string; title: string; description: string; timestamp: string; time_ago: string; is_live: boolean; metadata: Record<string, unknown> }[]
  t.same(
    activities.map((a) => a.type),
    ['conversation_reply', 'campaign_completed', 'campaign_started', 'template_approved', 'contacts_added', 'contact_added', 'contact_added', 'contact_added'],
    'newest first, every type',
  )
  for (const activity of activities) {
    t.same(Object.keys(activity).sort(), ['description', 'id', 'is_live', 'metadata', 'time_ago', 'timestamp', 'title', 'type'], `${activity.type} has the spec's fields`)
  }
  const byType = (type: string) => activities.find((a) => a.type === type)!
  t.match(byType('conversation_reply'), {
    id: `msg_${reply.id}`,
    title: 'John Kamau replied to conversation Kenya Coffee Exports',
    description: 'New message: Thank you for the quick response, the coffee...',
    timestamp: repliedAt.toISOString(),
    time_ago: 'Just now',
    is_live: true,
    metadata: { conversation_id: conversation.id, contact_name: 'John Kamau', conversation_subject: 'Kenya Coffee Exports', message_id: reply.id },
  })
  t.match(byType('campaign_completed'), {
    id: `camp_${campaign.id}`,
    title: "David Ochieng completed campaign Mother's Day Promotion",
    description: '50% delivered',
    is_live: false,
    metadata: { campaign_id: campaign.id, campaign_name: "Mother's Day Promotion", delivery_rate: 50, sent_count: 2, delivered_count: 1 },
  })
  t.match(byType('campaign_started'), {
    title: "David Ochieng started campaign Mother's Day Promotion",
    timestamp: startedAt.toISOString(),
    time_ago: '3 min ago',
    is_live: true,
    metadata: { campaign_id: campaign.id, campaign_name: "Mother's Day Promotion", recipient_count: 2 },
  })
  t.match(byType('template_approved'), {
    id: `template_${template.id}`,
    title: 'David Ochieng approved template Welcome Message - Swahili',
    description: 'Onboarding - Kiswahili',
    metadata: { template_id: template.id, template_name: 'Welcome Message - Swahili', category: 'onboarding', language: 'sw', channel: 'whatsapp' },
  })
  const contactsAdded = byType('contacts_added')
  t.match(contactsAdded, { title: 'Added 4 new contacts', description: 'Bulk import completed', metadata: { count: 4 } })
  t.equal((contactsAdded.metadata.contacts as string[]).length, 4)
  t.match(activities.filter((a) => a.type === 'contact_added').at(-1), {
    id: `contact_${john.id}`,
    title: 'John Kamau added to contacts',
    description: 'New contact: +255700000001',
    time_ago: '8 min ago',
    metadata: { contact_id: john.id, contact_name: 'John Kamau', phone: '+255700000001' },
  })
  t.equal(recent.data.total_count, 8)
  t.equal(recent.data.live_count, 2)
  t.equal(recent.data.has_more, false)

  const limited = expectStatus(await call(session, 'GET', '/api/messaging/activity/recent/?limit=3'), 200, 'limited').data
  t.equal(limited.activities.length, 3)
  t.equal(limited.has_more, true)
  t.equal(limited.total_count, 8)
  const onlyContacts = expectStatus(await call(session, 'GET', '/api/messaging/activity/recent/?type=contact_added'), 200, 'filtered').data
  t.same(onlyContacts.activities.map((a: { type: string }) => a.type), ['contact_added', 'contact_added', 'contact_added'])
  t.equal(onlyContacts.total_count, 3)
  t.equal(onlyContacts.live_count, 0)

  const overview = expectStatus(await call(session, 'GET', `/api/messaging/performance/overview/?min_position=${position}`), 200, 'overview')
  t.same(overview, {
    success: true,
    data: {
      metrics: { total_messages: 4, delivery_rate: 33.3, response_rate: 100, active_conversations: 1, campaign_success_rate: 100 },
      charts: {
        message_volume: { labels: ['Oct', 'Nov', 'Dec', 'Jan', 'Feb', 'Mar'], data: [0, 0, 0, 0, 0, 4] },
        delivery_rates: { labels: ['Oct', 'Nov', 'Dec', 'Jan', 'Feb', 'Mar'], data: [0, 0, 0, 0, 0, 33.3] },
      },
      coming_soon: false,
    },
  })

  const statistics = expectStatus(await call(session, 'GET', `/api/messaging/activity/statistics/?min_position=${position}`), 200, 'statistics')
  const todays = { messages_sent: 3, messages_received: 1, conversations_started: 1, campaigns_launched: 1 }
  t.same(statistics, { success: true, data: { today: todays, this_week: todays, this_month: todays } })

  // the test clock passes five minutes after the reply: nothing is live any more
  clock.advance(5 * MINUTE + 1000)
  const later = expectStatus(await call(session, 'GET', '/api/messaging/activity/recent/'), 200, 'later').data
  t.equal(later.live_count, 0)
  t.ok(later.activities.every((a: { is_live: boolean }) => !a.is_live), 'no activity is live after five minutes')
  t.equal(later.activities[0].time_ago, '5 min ago')

  // next day (local): today is empty, the week and month still count
  clock.set('2026-03-11T00:30:00Z') // 03:30 on Wednesday in Dar es Salaam
  const nextDay = expectStatus(await call(session, 'GET', '/api/messaging/activity/statistics/'), 200, 'next day').data
  t.same(nextDay.today, { messages_sent: 0, messages_received: 0, conversations_started: 0, campaigns_launched: 0 })
  t.same(nextDay.this_week, todays)

  // another tenant sees none of it
  const stranger = await registerUser(app, { email: 'stranger@example.com' })
  const strangerRecent = expectStatus(await call(stranger, 'GET', '/api/messaging/activity/recent/'), 200, 'stranger recent').data
  t.same(strangerRecent, { activities: [], has_more: false, total_count: 0, live_count: 0 })
  const strangerOverview = expectStatus(await call(stranger, 'GET', '/api/messaging/performance/overview/'), 200, 'stranger overview').data
  t.equal(strangerOverview.coming_soon, true)
  t.equal(strangerOverview.metrics.total_messages, 0)
})

t.test('dashboard endpoints refuse bad requests in the spec format', async (t) => {
  const { app } = await startTestApp(t, { label: 'e2e_refusals' })
  const session = await registerUser(app)
  const get = (url: string, headers = session.headers) => app.inject({ method: 'GET', url, headers })

  for (const url of ['/api/messaging/activity/recent/', '/api/messaging/performance/overview/', '/api/messaging/activity/statistics/']) {
    const anonymous = await app.inject({ method: 'GET', url })
    t.equal(anonymous.statusCode, 401, `${url} without a token`)
    t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })
    const badToken = await get(url, { authorization: 'Bearer not.a.token' })
    t.equal(badToken.statusCode, 401, `${url} with a bad token`)
    const refresh = await get(url, { authorization: `Bearer ${session.refresh}` })
    t.equal(refresh.statusCode, 401, `${url} with a refresh token`)
  }
  for (const query of ['limit=0', 'limit=101', 'limit=abc', 'type=unknown_type']) {
    const response = await get(`/api/messaging/activity/recent/?${query}`)
    t.equal(response.statusCode, 400, query)
    t.equal(response.json().success, false)
    t.equal(response.json().message, 'Validation failed')
    t.ok(Object.keys(response.json().errors).length > 0, `${query} names the field`)
  }
  const noTenant = await get('/api/messaging/activity/recent/', { authorization: `Bearer ${app.issueTokens({ userId: session.userId, tenantId: null, role: null, name: 'Nobody', email: 'n@example.com' }).access}` })
  t.equal(noTenant.statusCode, 400)
  t.same(noTenant.json(), { success: false, message: 'User is not associated with any tenant' })
})

