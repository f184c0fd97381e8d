import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { eventually } from '../support/eventually.ts'
import { registerUser, startTestApp } from '../support/testApp.ts'
import { campaignFixtures, SPEC_LIST_FIELDS } from './campaignFixtures.ts'

const UNKNOWN_ID = '3f8a2c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b'
const MINUTE = 60_000

/**
 * The campaign state machine over HTTP (start, pause, resume, cancel, complete, with their
 * refusals), and the campaign list and details: every field of the spec's sample, with the
 * numbers checked after the campaign's messages get delivery statuses.
 */
t.test('campaign lifecycle, list and details over HTTP', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { clock, label: 'campaign_lifecycle' })
  const { request, ok, createContact, contactsSettled, streamVersion, createSegment } = campaignFixtures(app, services)
  const session = await registerUser(app, { first_name: 'Amina', last_name: 'Juma' })
  const other = await registerUser(app, { tenant_name: 'Other Ltd' })
  const at = () => clock.now().toISOString()

  const asha = await createContact(session, { name: 'Asha', phone_e164: '+255712000001', tags: ['vip'], is_opted_in: true })
  const baraka = await createContact(session, { name: 'Baraka', phone_e164: '+255712000002', tags: ['vip'], is_opted_in: true })
  const chausiku = await createContact(session, { name: 'Chausiku', phone_e164: '+255712000003', tags: ['premium'], is_opted_in: true })
  const daudi = await createContact(session, { name: 'Daudi', phone_e164: '+255712000004', tags: ['premium'] })
  const vip = await createSegment(session, 'VIP Customers', { tags: ['vip'] })
  await contactsSettled()

  const create = async (payload: object) => (await ok(request(session, 'POST', '/api/messaging/campaigns/', payload), 201)).data.id as string
  const action = (id: string, name: string, who = session) => request(who, 'POST', `/api/messaging/campaigns/${id}/${name}/`)
  const detail = async (id: string, position: number) => {
    const response = await request(session, 'GET', `/api/messaging/campaigns/${id}/?min_position=${position}`)
    t.equal(response.headers['x-read-model-caught-up'], 'true', 'read your writes')
    return response.json().data
  }

  // Asha and Baraka through the segment, Chausiku by id and criteria, Daudi never opted in
  const message = 'Get 50% off on all items! Use code BLACK50'
  const blackFriday = await create({
    name: 'Black Friday Sale',
    description: 'Promotional campaign for Black Friday',
    campaign_type: 'sms',
    message_text: message,
    target_contact_ids: [chausiku, daudi],
    target_segment_ids: [vip],
    target_criteria: { tags: ['premium'] },
  })

  t.test('start resolves segments and criteria now, then pause, resume and complete', async (t) => {
    // a contact joins the segment after the campaign was created: start sees it
    const eliya = await createContact(session, { name: 'Eliya', phone_e164: '+255712000005', tags: ['vip'], is_opted_in: true })
    await contactsSettled()
    clock.advance(MINUTE)
    const started = await action(blackFriday, 'start')
    t.equal(started.statusCode, 200, started.body)
    const startBody = started.json()
    t.same(startBody, { success: true, message: 'Campaign started successfully', campaign: { id: blackFriday, status: 'running', started_at: at() }, position: startBody.position })
    const { events } = await services.store.readStream(`campaign-${blackFriday}`)
    t.same(events.map((event) => event.type), ['campaignCreated', 'campaignRecipientsAdded', 'campaignStarted'])
    const recipients = (events[1]!.data as { recipients: { contactId: string }[] }).recipients.map((r) => r.contactId)
    t.same(recipients, [asha, baraka, chausiku, eliya].sort(), 'the eligible contacts of ids, segment and criteria, each once')
    t.match(events[2]!.data, { recipientCount: 4, cost: { estimatedCost: 1 }, startedBy: { userId: session.userId, name: 'Amina Juma' } })
    // the start's last event is the credit reservation appended with it
    const [reservation] = (await services.store.readStream(`smsCredits-${session.tenantId}`, { direction: 'backward', limit: 1 })).events
    t.match(reservation, { type: 'smsCreditsConsumed', data: { parts: 4, reference: { kind: 'campaign', id: blackFriday } } })
    t.equal(reservation!.position, startBody.position, 'the answer carries the position of the last event of the start')
    t.ok(events[2]!.position < startBody.position)

    // the campaign sender queues one message per recipient; delivery reports come back as statuses
    const messages = await eventually(
      async () => (await ok(request(session, 'GET', `/api/messaging/messages/?campaign_id=${blackFriday}`))).data,
      (data) => data.count === 4,
      20_000,
    )
    const [first, second, third, fourth] = messages.results as { id: string }[]
    // all four accepted by the provider; then two delivered (one of them read), one failed
    await ok(request(session, 'POST', `/api/messaging/messages/${fourth!.id}/status/`, { status: 'sent' }))
    await ok(request(session, 'POST', `/api/messaging/messages/${third!.id}/status/`, { status: 'sent' }))
    await ok(request(session, 'POST', `/api/messaging/messages/${first!.id}/status/`, { status: 'delivered' }))
    await ok(request(session, 'POST', `/api/messaging/messages/${second!.id}/status/`, { status: 'read' }))
    clock.advance(MINUTE)
    const failed = await ok(request(session, 'POST', `/api/messaging/messages/${third!.id}/status/`, { status: 'failed', reason: 'Absent subscriber' }))

    const running = await detail(blackFriday, failed.position)
    t.same(Object.keys(running), SPEC_LIST_FIELDS, 'every field of the spec sample, in its order')
    t.same(running, {
      id: blackFriday,
      name: 'Black Friday Sale',
      description: 'Promotional campaign for Black Friday',
      campaign_type: 'sms',
      campaign_type_display: 'SMS',
      message_text: message,
      template: null,
      status: 'running',
      status_display: 'Running',
      scheduled_at: null,
      started_at: '2026-03-10T09:01:00.000Z',
      completed_at: null,
      total_recipients: 4,
      sent_count: 4,
      delivered_count: 2,
      read_count: 1,
      failed_count: 1,
      estimated_cost: 1,
      actual_cost: 1,
      // delivered 2 + failed 1 of 4 recipients have a final outcome
      progress_percentage: 75,
      delivery_rate: 50,
      read_rate: 50,
      is_active: true,
      can_edit: false,
      can_start: false,
      can_pause: true,
      can_cancel: true,
      is_recurring: false,
      recurring_schedule: {},
      settings: {},
      created_by: session.userId,
      created_by_name: 'Amina Juma',
      created_at: '2026-03-10T09:00:00.000Z',
      updated_at: '2026-03-10T09:01:00.000Z',
      target_contact_count: 2,
      target_segment_names: ['VIP Customers'],
    })

    clock.advance(MINUTE)
    const paused = await action(blackFriday, 'pause')
    t.equal(paused.statusCode, 200, paused.body)
    const pausedBody = paused.json()
    t.same(pausedBody, { success: true, message: 'Campaign paused successfully', campaign: { id: blackFriday, status: 'paused', paused_at: at() }, position: pausedBody.position })
    t.match(await detail(blackFriday, pausedBody.position), { status: 'paused', status_display: 'Paused', is_active: true, can_pause: false, can_cancel: true, can_start: false, updated_at: at() })

    const version = await streamVersion(blackFriday)
    for (const [name, message, allowed] of [
      ['pause', 'Campaign cannot be paused', ['running']],
      ['start', 'Campaign cannot be started', ['draft', 'scheduled']],
    ] as const) {
      const refused = await action(blackFriday, name)
      t.equal(refused.statusCode, 400, refused.body)
      t.same(refused.json(), { success: false, message, error_code: 'INVALID_STATUS', details: { current_status: 'paused', allowed_statuses: allowed } })
    }
    t.equal(await streamVersion(blackFriday), version, 'refusals appended nothing')

    clock.advance(MINUTE)
    const resumed = await action(blackFriday, 'resume')
    t.equal(resumed.statusCode, 200, resumed.body)
    const resumedBody = resumed.json()
    t.same(resumedBody, { success: true, message: 'Campaign resumed successfully', campaign: { id: blackFriday, status: 'running', resumed_at: at() }, position: resumedBody.position })
    const refusedResume = await action(blackFriday, 'resume')
    t.same(refusedResume.json(), { success: false, message: 'Campaign cannot be resumed', error_code: 'INVALID_STATUS', details: { current_status: 'running', allowed_statuses: ['paused'] } })

    clock.advance(MINUTE)
    const completed = await action(blackFriday, 'complete')
    t.equal(completed.statusCode, 200, completed.body)
    const completedBody = completed.json()
    t.same(completedBody, {
      success: true,
      message: 'Campaign completed successfully',
      campaign: { id: blackFriday, status: 'completed', completed_at: at(), sent_count: 4, delivered_count: 2, read_count: 1, failed_count: 1, delivery_rate: 50 },
      position: completedBody.position,
    })
    t.match(await detail(blackFriday, completedBody.position), {
      status: 'completed',
      status_display: 'Completed',
      completed_at: at(),
      is_active: false,
      can_edit: false,
      can_start: false,
      can_pause: false,
      can_cancel: false,
      sent_count: 4,
      progress_percentage: 75,
    })

    const finished = await streamVersion(blackFriday)
    for (const [name, message, allowed] of [
      ['cancel', 'Campaign cannot be cancelled', ['draft', 'scheduled', 'running', 'paused']],
      ['complete', 'Campaign cannot be completed', ['running', 'paused']],
      ['pause', 'Campaign cannot be paused', ['running']],
    ] as const) {
      const refused = await action(blackFriday, name)
      t.equal(refused.statusCode, 400, refused.body)
      t.same(refused.json(), { success: false, message, error_code: 'INVALID_STATUS', details: { current_status: 'completed', allowed_statuses: allowed } })
    }
    t.equal(await streamVersion(blackFriday), finished)
  })

  t.test('cancel a draft, a scheduled, a running and a paused campaign', async (t) => {
    clock.advance(MINUTE)
    const draft = await create({ name: 'Draft to cancel', message_text: 'Hi' })
    const scheduled = await create({ name: 'Scheduled to cancel', message_text: 'Hi', scheduled_at: '2026-04-01T09:00:00Z' })
    const running = await create({ name: 'Running to cancel', message_text: 'Hi', target_contact_ids: [asha] })
    await ok(action(running, 'start'))
    const paused = await create({ name: 'Paused to cancel', message_text: 'Hi', target_contact_ids: [asha] })
    await ok(action(paused, 'start'))
    await ok(action(paused, 'pause'))
    let lastPosition = 0
    for (const [id, previous] of [
      [draft, 'draft'],
      [scheduled, 'scheduled'],
      [running, 'running'],
      [paused, 'paused'],
    ] as const) {
      const cancelled = await action(id, 'cancel')
      t.equal(cancelled.statusCode, 200, cancelled.body)
      const body = cancelled.json()
      lastPosition = body.position
      t.same(body, { success: true, message: 'Campaign cancelled successfully', campaign: { id, status: 'cancelled', cancelled_at: at() }, position: body.position })
      const { events } = await services.store.readStream(`campaign-${id}`)
      t.match(events.at(-1), { type: 'campaignCancelled', data: { previousStatus: previous, cancelledBy: { name: 'Amina Juma' } } })
      t.match(await detail(id, body.position), { status: 'cancelled', status_display: 'Cancelled', is_active: false, can_cancel: false, can_edit: false })
    }
    const again = await action(draft, 'cancel')
    t.same(again.json().details, { current_status: 'cancelled', allowed_statuses: ['draft', 'scheduled', 'running', 'paused'] })

    // one completed and four cancelled campaigns: the dashboard's campaign success rate
    const overview = await ok(request(session, 'GET', `/api/messaging/performance/overview/?min_position=${lastPosition}`))
    t.equal(overview.data.metrics.campaign_success_rate, 20)
  })

  t.test('a scheduled campaign starts; a campaign nobody can receive does not', async (t) => {
    clock.advance(MINUTE)
    const scheduled = await create({ name: 'Scheduled', message_text: 'Hi', scheduled_at: '2026-04-01T09:00:00Z', target_criteria: { tags: ['premium'] } })
    const started = await ok(action(scheduled, 'start'))
    t.same(started.campaign, { id: scheduled, status: 'running', started_at: at() })
    t.match(await detail(scheduled, started.position), { status: 'running', scheduled_at: '2026-04-01T09:00:00.000Z', total_recipients: 1 })

    const nobody = await create({ name: 'Nobody', message_text: 'Hi', target_contact_ids: [daudi, UNKNOWN_ID] })
    const refused = await action(nobody, 'start')
    t.equal(refused.statusCode, 400, refused.body)
    t.same(refused.json(), {
      success: false,
      message: 'Campaign cannot be started',
      error_code: 'NO_RECIPIENTS',
      details: { target_contact_count: 2, eligible_recipient_count: 0 },
    })
    t.equal(await streamVersion(nobody), 0)
  })

  t.test('the list: newest first, status and type filters, pages', async (t) => {
    clock.advance(MINUTE)
    const whatsapp = await ok(request(session, 'POST', '/api/messaging/campaigns/', { name: 'WhatsApp promo', campaign_type: 'whatsapp', message_text: 'Hi', is_recurring: true, recurring_schedule: { every: 'week' }, settings: { send_time: '09:00' } }), 201)
    const all = await ok(request(session, 'GET', `/api/messaging/campaigns/?min_position=${whatsapp.position}`))
    t.equal(all.data.count, 8)
    t.equal(all.data.next, null)
    t.equal(all.data.previous, null)
    t.same(
      all.data.results.map((campaign: { name: string }) => campaign.name),
      ['WhatsApp promo', 'Nobody', 'Scheduled', 'Paused to cancel', 'Running to cancel', 'Scheduled to cancel', 'Draft to cancel', 'Black Friday Sale'],
      'newest first',
    )
    for (const campaign of all.data.results) t.same(Object.keys(campaign), SPEC_LIST_FIELDS)
    t.match(all.data.results[0], {
      campaign_type: 'whatsapp',
      campaign_type_display: 'WhatsApp',
      status: 'draft',
      status_display: 'Draft',
      is_active: false,
      can_edit: true,
      can_start: true,
      can_pause: false,
      can_cancel: true,
      is_recurring: true,
      recurring_schedule: { every: 'week' },
      settings: { send_time: '09:00' },
      total_recipients: 0,
      sent_count: 0,
      actual_cost: 0,
      progress_percentage: 0,
      delivery_rate: 0,
      read_rate: 0,
    })

    const byStatus = async (query: string) => (await ok(request(session, 'GET', `/api/messaging/campaigns/?${query}`))).data
    t.same((await byStatus('status=cancelled')).results.map((c: { name: string }) => c.name), ['Paused to cancel', 'Running to cancel', 'Scheduled to cancel', 'Draft to cancel'])
    t.same((await byStatus('status=running')).results.map((c: { name: string }) => c.name), ['Scheduled'])
    t.same((await byStatus('status=completed&type=sms')).results.map((c: { name: string }) => c.name), ['Black Friday Sale'])
    t.same((await byStatus('type=whatsapp')).results.map((c: { name: string }) => c.name), ['WhatsApp promo'])
    t.same(await byStatus('status=failed'), { results: [], count: 0, next: null, previous: null })

    const page1 = await byStatus('page_size=3')
    t.equal(page1.count, 8)
    t.equal(page1.results.length, 3)
    t.equal(page1.previous, null)
    t.match(page1.next, /\/api\/messaging\/campaigns\/\?page_size=3&page=2$/)
    const page3 = await byStatus('page_size=3&page=3')
    t.same(page3.results.map((c: { name: string }) => c.name), ['Draft to cancel', 'Black Friday Sale'])
    t.equal(page3.next, null)
    t.match(page3.previous, /page=2/)

    for (const query of ['status=done', 'type=fax', 'page=0', 'page_size=101', 'min_position=-1']) {
      const bad = await request(session, 'GET', `/api/messaging/campaigns/?${query}`)
      t.equal(bad.statusCode, 400, query)
      t.equal(bad.json().message, 'Validation failed')
    }
  })

  t.test("another tenant's campaigns are not found and not listed", async (t) => {
    const theirs = await ok(request(other, 'GET', '/api/messaging/campaigns/'))
    t.same(theirs.data, { results: [], count: 0, next: null, previous: null })
    const foreign = await request(other, 'GET', `/api/messaging/campaigns/${blackFriday}/`)
    t.equal(foreign.statusCode, 404)
    t.same(foreign.json(), { success: false, message: 'Campaign not found' })
    const unknown = await request(session, 'GET', `/api/messaging/campaigns/${UNKNOWN_ID}/`)
    t.equal(unknown.statusCode, 404)
    const badId = await request(session, 'GET', '/api/messaging/campaigns/not-a-uuid/')
    t.equal(badId.statusCode, 400)

    const draft = await create({ name: 'Mine', message_text: 'Hi', target_contact_ids: [asha] })
    const version = await streamVersion(draft)
    for (const name of ['start', 'pause', 'resume', 'cancel', 'complete']) {
      const refused = await action(draft, name, other)
      t.equal(refused.statusCode, 404, name)
      t.same(refused.json(), { success: false, message: 'Campaign not found' })
      t.equal((await action(UNKNOWN_ID, name)).statusCode, 404)
    }
    t.equal(await streamVersion(draft), version)
    t.equal(await streamVersion(UNKNOWN_ID), -1)
  })

  t.test('start reads segments as they are now; a segment deleted since keeps its recorded criteria', async (t) => {
    const gita = await createContact(session, { name: 'Gita', phone_e164: '+255712000008', tags: ['gold'], is_opted_in: true })
    const sefu = await createContact(session, { name: 'Sefu', phone_e164: '+255712000009', tags: ['silver'], is_opted_in: true })
    const gold = await createSegment(session, 'Gold', { tags: ['gold'] })
    const silver = await createSegment(session, 'Silver', { tags: ['silver'] })
    await contactsSettled()
    const created = await ok(request(session, 'POST', '/api/messaging/campaigns/', { name: 'Metals', message_text: 'Hi', target_segment_ids: [gold, silver] }), 201)
    t.match(created.data, { total_recipients: 2, target_segment_names: ['Gold', 'Silver'] })

    await ok(request(session, 'PUT', `/api/messaging/segments/${gold}/`, { name: 'Gold', criteria: { tags: ['platinum'] } }))
    await ok(request(session, 'DELETE', `/api/messaging/segments/${silver}/`))
    const started = await ok(action(created.data.id, 'start'))
    const { events } = await services.store.readStream(`campaign-${created.data.id}`)
    const recipients = events.flatMap((event) => (event.type === 'campaignRecipientsAdded' ? (event.data as { recipients: { contactId: string }[] }).recipients : []))
    t.same(recipients.map((r) => r.contactId), [sefu], 'Gita left with the edited Gold segment; Silver, deleted, still targets Sefu')
    t.not(recipients[0]?.contactId, gita)
    t.match(await detail(created.data.id, started.position), { total_recipients: 1, estimated_cost: 0.25, target_segment_names: ['Gold', 'Silver'] })
  })

  t.test('without a token', async (t) => {
    const id = blackFriday
    for (const [method, url] of [
      ['GET', '/api/messaging/campaigns/'],
      ['GET', `/api/messaging/campaigns/${id}/`],
      ['POST', '/api/messaging/campaigns/'],
      ['POST', '/api/messaging/campaigns/?dry_run=true'],
      ['PUT', `/api/messaging/campaigns/${id}/`],
      ['DELETE', `/api/messaging/campaigns/${id}/`],
      ...['start', 'pause', 'resume', 'cancel', 'complete'].map((name) => ['POST', `/api/messaging/campaigns/${id}/${name}/`] as const),
    ] as const) {
      const response = await app.inject({ method, url, ...(method === 'POST' || method === 'PUT' ? { payload: { name: 'X', message_text: 'Y' } } : {}) })
      t.equal(response.statusCode, 401, `${method} ${url}`)
      t.same(response.json(), { detail: 'Authentication credentials were not provided.' })
    }
  })
})
