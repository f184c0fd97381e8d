import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { campaignMessageId } from '../../commands/campaigns/campaignFanOut.ts'
import { messageStream } from '../../commands/messages/messageCommands.ts'
import { as, registerUser, startTestApp, type Session } from '../support/testApp.ts'

const UNKNOWN_ID = '3f8a2c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b'

async function createContact(app: FastifyInstance, session: Session, payload: object): Promise<string> {
  const response = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload }))
  if (response.statusCode !== 201) throw new Error(`contact creation failed: ${response.statusCode} ${response.body}`)
  return response.json().data.id
}

async function optIn(app: FastifyInstance, session: Session, contactId: string): Promise<void> {
  const response = await app.inject(as(session, { method: 'POST', url: `/api/messaging/contacts/${contactId}/opt-in/` }))
  if (response.statusCode !== 200) throw new Error(`opt-in failed: ${response.statusCode} ${response.body}`)
}

t.test('campaigns over HTTP', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'campaigns_http' })
  const session = await registerUser(app, { first_name: 'Amina', last_name: 'Juma' })
  const other = await registerUser(app, { tenant_name: 'Other Ltd' })
  const streamVersion = async (id: string) => (await services.store.readStream(`campaign-${id}`)).version
  /** every campaign event ever recorded, committed or not yet visible to global readers */
  const campaignEventCount = async () =>
    (await sql<{ n: number }>`select count(*)::int as n from es_events where category = 'campaign'`.execute(services.database.db)).rows[0]!.n

  const jane = await createContact(app, session, { name: 'Jane', phone_e164: '+255712000001' })
  const john = await createContact(app, session, { name: 'John', phone_e164: '+255712000002' })
  const emailOnly = await createContact(app, session, { name: 'Mail Only', email: 'mail.only@example.com' })
  const targets = [jane, john, jane, emailOnly, UNKNOWN_ID]

  const post = (who: Session, url: string, payload?: object) =>
    app.inject(as(who, { method: 'POST', url, ...(payload ? { payload } : {}) }))

  const created = await post(session, '/api/messaging/campaigns/', {
    name: 'New Year Promotion',
    description: 'Welcome the new year with our special offers',
    campaign_type: 'sms',
    message_text: 'Happy New Year! Get 30% off. Use code NEWYEAR30',
    template: null,
    scheduled_at: '2027-01-01T12:00:00+03:00',
    target_contact_ids: targets,
    // accepted and ignored for now
    target_segment_ids: [UNKNOWN_ID],
    target_criteria: { tags: ['vip'], opt_in_status: 'opted_in' },
    settings: { send_time: '09:00', timezone: 'Africa/Dar_es_Salaam' },
    is_recurring: false,
    recurring_schedule: {},
  })
  t.equal(created.statusCode, 201, created.body)
  const createdBody = created.json()
  t.type(createdBody.position, 'number')
  const campaignId: string = createdBody.data.id
  t.same(createdBody, {
    success: true,
    data: {
      id: campaignId,
      name: 'New Year Promotion',
      description: 'Welcome the new year with our special offers',
      campaign_type: 'sms',
      status: 'draft',
      total_recipients: 0,
      created_at: '2026-03-10T09:00:00.000Z',
      target_contact_count: 4,
      target_segment_names: [],
    },
    position: createdBody.position,
  })
  const [createdEvent] = (await services.store.readStream(`campaign-${campaignId}`)).events
  t.match(createdEvent?.data, {
    tenantId: session.tenantId,
    scheduledAt: '2027-01-01T09:00:00.000Z',
    targetContactIds: [jane, john, emailOnly, UNKNOWN_ID],
    templateId: null,
    createdBy: { userId: session.userId, name: 'Amina Juma' },
  })

  t.test('defaults: description empty, type sms, no targets', async (t) => {
    const minimal = await post(session, '/api/messaging/campaigns', { name: 'Minimal', message_text: 'Hi' })
    t.equal(minimal.statusCode, 201, minimal.body)
    t.match(minimal.json().data, { name: 'Minimal', description: '', campaign_type: 'sms', status: 'draft', total_recipients: 0, target_contact_count: 0 })
  })

  t.test('starting with no eligible recipient is refused and appends nothing', async (t) => {
    const before = await streamVersion(campaignId)
    const refused = await post(session, `/api/messaging/campaigns/${campaignId}/start/`)
    t.equal(refused.statusCode, 400, refused.body)
    t.same(refused.json(), {
      success: false,
      message: 'Campaign cannot be started',
      error_code: 'NO_RECIPIENTS',
      details: { target_contact_count: 4, eligible_recipient_count: 0 },
    })
    t.equal(await streamVersion(campaignId), before)
  })

  t.test('after opting contacts in, the campaign starts with the eligible ones', async (t) => {
    for (const contactId of [jane, john, emailOnly]) await optIn(app, session, contactId)

    const second = await post(session, '/api/messaging/campaigns/', { name: 'Second', message_text: 'Hello', target_contact_ids: targets })
    t.equal(second.statusCode, 201, second.body)
    t.equal(second.json().data.total_recipients, 2, 'opted in and with a phone: Jane and John')

    const started = await post(session, `/api/messaging/campaigns/${campaignId}/start/`)
    t.equal(started.statusCode, 200, started.body)
    const body = started.json()
    t.same(body, {
      success: true,
      message: 'Campaign started successfully',
      campaign: { id: campaignId, status: 'running', started_at: '2026-03-10T09:00:00.000Z' },
      position: body.position,
    })

    const { events } = await services.store.readStream(`campaign-${campaignId}`)
    t.same(events.map((event) => event.type), ['campaignCreated', 'campaignRecipientsAdded', 'campaignStarted'])
    t.same(events[1]!.data, {
      campaignId,
      tenantId: session.tenantId,
      chunk: 0,
      campaignType: 'sms',
      messageText: 'Happy New Year! Get 30% off. Use code NEWYEAR30',
      recipients: [
        { contactId: jane, phone: '+255712000001' },
        { contactId: john, phone: '+255712000002' },
      ],
    })
    t.match(events[2]!.data, { recipientCount: 2, startedBy: { userId: session.userId, name: 'Amina Juma' } })
    t.equal(events[2]!.position, body.position, 'the answer carries the position of campaignStarted')
  })

  t.test('starting a running campaign is refused', async (t) => {
    const before = await streamVersion(campaignId)
    const again = await post(session, `/api/messaging/campaigns/${campaignId}/start`)
    t.equal(again.statusCode, 400, again.body)
    t.same(again.json(), {
      success: false,
      message: 'Campaign cannot be started',
      error_code: 'INVALID_STATUS',
      details: { current_status: 'running', allowed_statuses: ['draft', 'scheduled'] },
    })
    t.equal(await streamVersion(campaignId), before)
  })

  t.test('completing a draft is refused', async (t) => {
    const draft = await post(session, '/api/messaging/campaigns/', { name: 'Draft', message_text: 'Hello' })
    const draftId = draft.json().data.id
    const refused = await post(session, `/api/messaging/campaigns/${draftId}/complete/`)
    t.equal(refused.statusCode, 400, refused.body)
    t.same(refused.json(), {
      success: false,
      message: 'Campaign cannot be completed',
      error_code: 'INVALID_STATUS',
      details: { current_status: 'draft', allowed_statuses: ['running', 'paused'] },
    })
    t.equal(await streamVersion(draftId), 0)
  })

  t.test('complete counts the outcome of the messages sent', async (t) => {
    // the sender (a reactor) queues one message per recipient after the start: wait for both messages
    const messageIds = [jane, john].map((contactId) => campaignMessageId(campaignId, contactId))
    const queued = async () => (await Promise.all(messageIds.map((id) => services.store.readStream(messageStream(id))))).every((slice) => slice.version >= 0)
    for (let waited = 0; !(await queued()) && waited < 15_000; waited += 50) await sleep(50)
    t.ok(await queued(), 'the sender queued a message for each recipient')
    const delivered = await post(session, `/api/messaging/messages/${campaignMessageId(campaignId, jane)}/status/`, { status: 'delivered' })
    t.equal(delivered.statusCode, 200, delivered.body)
    const completed = await post(session, `/api/messaging/campaigns/${campaignId}/complete/`)
    t.equal(completed.statusCode, 200, completed.body)
    const body = completed.json()
    t.same(body, {
      success: true,
      message: 'Campaign completed successfully',
      campaign: {
        id: campaignId,
        status: 'completed',
        completed_at: '2026-03-10T09:00:00.000Z',
        sent_count: 2,
        delivered_count: 1,
        read_count: 0,
        failed_count: 0,
        delivery_rate: 50,
      },
      position: body.position,
    })
    const { events } = await services.store.readStream(`campaign-${campaignId}`)
    t.match(events.at(-1), { type: 'campaignCompleted', position: body.position, data: { recipientCount: 2, completedBy: { name: 'Amina Juma' } } })

    const before = await streamVersion(campaignId)
    const again = await post(session, `/api/messaging/campaigns/${campaignId}/complete/`)
    t.equal(again.statusCode, 400, again.body)
    t.same(again.json(), {
      success: false,
      message: 'Campaign cannot be completed',
      error_code: 'INVALID_STATUS',
      details: { current_status: 'completed', allowed_statuses: ['running', 'paused'] },
    })
    const restart = await post(session, `/api/messaging/campaigns/${campaignId}/start/`)
    t.equal(restart.statusCode, 400)
    t.same(restart.json().details, { current_status: 'completed', allowed_statuses: ['draft', 'scheduled'] })
    t.equal(await streamVersion(campaignId), before)
  })

  t.test("another tenant's campaign is not found", async (t) => {
    const before = await streamVersion(campaignId)
    for (const action of ['start', 'complete']) {
      const foreign = await post(other, `/api/messaging/campaigns/${campaignId}/${action}/`)
      t.equal(foreign.statusCode, 404, foreign.body)
      t.same(foreign.json(), { success: false, message: 'Campaign not found' })
      const unknown = await post(other, `/api/messaging/campaigns/${UNKNOWN_ID}/${action}/`)
      t.equal(unknown.statusCode, 404)
      t.same(unknown.json(), { success: false, message: 'Campaign not found' })
    }
    t.equal(await streamVersion(campaignId), before)
    t.equal(await streamVersion(UNKNOWN_ID), -1)
  })

  t.test('templates', async (t) => {
    const template = await post(session, '/api/messaging/templates/', {
      name: 'Promo',
      channel: 'sms',
      category: 'marketing',
      language: 'en',
      content: 'Hi {{first_name}}, 20% off today',
    })
    t.equal(template.statusCode, 201, template.body)
    const templateId = template.json().data.id
    const withTemplate = { name: 'Templated', template: templateId, target_contact_ids: [jane] }

    const draft = await post(session, '/api/messaging/campaigns/', withTemplate)
    t.equal(draft.statusCode, 400, draft.body)
    t.same(draft.json(), { success: false, message: 'Validation failed', errors: { template: ['Template must be approved before use (current status: draft).'] } })

    t.equal((await post(session, `/api/messaging/templates/${templateId}/approve/`)).statusCode, 200)
    const approved = await post(session, '/api/messaging/campaigns/', withTemplate)
    t.equal(approved.statusCode, 201, approved.body)
    t.match(approved.json().data, { name: 'Templated', total_recipients: 1, target_contact_count: 1 })
    const [event] = (await services.store.readStream(`campaign-${approved.json().data.id}`)).events
    t.match(event?.data, { templateId, messageText: 'Hi {{first_name}}, 20% off today' })

    const foreign = await post(other, '/api/messaging/campaigns/', { ...withTemplate, target_contact_ids: [] })
    t.equal(foreign.statusCode, 400, foreign.body)
    t.same(foreign.json(), { success: false, message: 'Validation failed', errors: { template: ['Template not found.'] } })
  })

  t.test('bad input is refused in the validation shape and appends nothing', async (t) => {
    const before = await campaignEventCount()
    const create = (payload: object) => post(session, '/api/messaging/campaigns/', payload)

    const noName = await create({ message_text: 'Hello' })
    t.equal(noName.statusCode, 400)
    t.same(noName.json(), { success: false, message: 'Validation failed', errors: { name: ['This field is required.'] } })

    const noText = await create({ name: 'No text' })
    t.equal(noText.statusCode, 400)
    t.same(noText.json(), { success: false, message: 'Validation failed', errors: { message_text: ['This field is required unless a template is given.'] } })

    const wrong = await create({
      name: 'x'.repeat(201),
      campaign_type: 'fax',
      message_text: 'y'.repeat(1601),
      template: 'not-a-uuid',
      scheduled_at: 'tomorrow',
      target_contact_ids: [jane, 'nope'],
    })
    t.equal(wrong.statusCode, 400)
    const { errors } = wrong.json()
    t.same(Object.keys(errors).sort(), ['campaign_type', 'message_text', 'name', 'scheduled_at', 'target_contact_ids.1', 'template'])
    t.same(errors.message_text, ['Ensure this field has no more than 1600 characters.'])
    t.same(errors.template, ['Must be a valid uuid.'])

    const blank = await create({ name: '  ', message_text: '  ' })
    t.equal(blank.statusCode, 400)
    t.same(blank.json().errors, { name: ['This field may not be blank.'], message_text: ['This field may not be blank.'] })

    const unknownTemplate = await create({ name: 'T', template: UNKNOWN_ID })
    t.equal(unknownTemplate.statusCode, 400)
    t.same(unknownTemplate.json().errors, { template: ['Template not found.'] })

    const badId = await post(session, '/api/messaging/campaigns/not-a-uuid/start/')
    t.equal(badId.statusCode, 400)
    t.equal(badId.json().message, 'Validation failed')

    t.equal(await campaignEventCount(), before)
  })

  t.test('without a token', async (t) => {
    for (const url of ['/api/messaging/campaigns/', `/api/messaging/campaigns/${campaignId}/start/`, `/api/messaging/campaigns/${campaignId}/complete/`]) {
      const response = await app.inject({ method: 'POST', url, payload: { name: 'X', message_text: 'Y' } })
      t.equal(response.statusCode, 401, url)
      t.same(response.json(), { detail: 'Authentication credentials were not provided.' })
    }
  })
})
