import t from 'tap'
import { campaignFixtures, SPEC_CREATE_FIELDS } from './campaignFixtures.ts'
import { registerUser, startTestApp } from '../support/testApp.ts'

const UNKNOWN_ID = '3f8a2c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b'
const NOW = '2026-03-10T09:00:00.000Z'

/**
 * Creating campaigns with smart targeting: contact ids ∪ segments ∪ criteria, deduplicated,
 * opted-in only, priced; the dry run; scheduling; editing and deleting; and every refusal.
 */
t.test('campaign targeting, dry run, create, update and delete over HTTP', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'campaign_targeting' })
  const { request, ok, createContact, contactsSettled, eventCount, streamVersion, createSegment, deleteSegment } = campaignFixtures(app, services)
  const session = await registerUser(app, { first_name: 'Amina', last_name: 'Juma' })
  const other = await registerUser(app, { tenant_name: 'Other Ltd' })

  // Asha, Baraka, Chausiku and Gift may receive messages; Daudi opted out, Eliya never opted in,
  // Fatma has no phone number
  const asha = await createContact(session, { name: 'Asha', phone_e164: '+255712000001', tags: ['vip'], is_opted_in: true })
  const baraka = await createContact(session, { name: 'Baraka', phone_e164: '+255712000002', tags: ['vip', 'premium'], is_opted_in: true })
  const chausiku = await createContact(session, { name: 'Chausiku', phone_e164: '+255712000003', tags: ['premium'], is_opted_in: true })
  const daudi = await createContact(session, { name: 'Daudi', phone_e164: '+255712000004', tags: ['vip'], is_opted_in: true })
  await ok(request(session, 'POST', `/api/messaging/contacts/${daudi}/opt-out/`, { reason: 'Too many messages' }))
  const eliya = await createContact(session, { name: 'Eliya', phone_e164: '+255712000005', tags: ['premium'] })
  const fatma = await createContact(session, { name: 'Fatma', email: 'fatma@example.com', tags: ['vip'], is_opted_in: true })
  const gift = await createContact(session, { name: 'Gift', phone_e164: '+255712000007', is_opted_in: true })
  const vipSegment = await createSegment(session, 'VIP Customers', { tags: ['vip'] })
  const newSegment = await createSegment(session, 'New Subscribers', { tags: ['new'] })
  const foreignSegment = await createSegment(other, 'Their VIPs', { tags: ['vip'] })
  await contactsSettled()

  const smartBody = {
    name: 'New Year Promotion',
    description: 'Welcome the new year with our special offers',
    campaign_type: 'sms',
    message_text: 'Happy New Year! Get 30% off on your first order. Use code NEWYEAR30',
    template: null,
    target_contact_ids: [asha, gift, daudi],
    target_segment_ids: [vipSegment, newSegment],
    target_criteria: { tags: ['premium'] },
    settings: { send_time: '09:00', timezone: 'Africa/Dar_es_Salaam' },
    is_recurring: false,
    recurring_schedule: {},
  }
  // references: 3 ids + VIP {Asha, Baraka, Daudi, Fatma} + New {} + premium {Baraka, Chausiku, Eliya} = 10,
  // 7 distinct contacts (3 duplicates), of which 4 may receive messages
  const explanations = [
    'Duplicates removed: 3 contacts',
    'Opted-out contacts excluded: 1 contact',
    'Contacts never opted in excluded: 1 contact',
    'Invalid numbers excluded: 1 contact',
  ]

  t.test('the dry run resolves and prices the campaign and appends nothing', async (t) => {
    const before = await eventCount()
    const dryRun = await request(session, 'POST', '/api/messaging/campaigns/?dry_run=true', smartBody)
    t.equal(dryRun.statusCode, 200, dryRun.body)
    // 4 recipients × 1 GSM-7 part × 0.25
    t.same(dryRun.json(), { success: true, data: { total_recipients: 4, estimated_cost: 1, explanations } })
    t.equal(await eventCount(), before, 'no event appended by the dry run')

    const refused = await request(session, 'POST', '/api/messaging/campaigns/?dry_run=true', { ...smartBody, scheduled_at: '2026-03-10T08:00:00Z', target_segment_ids: [UNKNOWN_ID] })
    t.equal(refused.statusCode, 400, refused.body)
    t.same(refused.json(), { success: false, message: 'Validation failed', errors: { target_segment_ids: [`Segment not found: ${UNKNOWN_ID}.`] } })
    t.equal(await eventCount(), before)
  })

  t.test('create resolves ids, segments and criteria into one deduplicated, opted-in audience', async (t) => {
    const created = await request(session, 'POST', '/api/messaging/campaigns/', smartBody)
    t.equal(created.statusCode, 201, created.body)
    const body = created.json()
    t.same(Object.keys(body.data), SPEC_CREATE_FIELDS, 'the fields of the spec sample')
    t.same(body, {
      success: true,
      data: {
        id: body.data.id,
        name: 'New Year Promotion',
        description: 'Welcome the new year with our special offers',
        campaign_type: 'sms',
        status: 'draft',
        total_recipients: 4,
        estimated_cost: 1,
        created_at: NOW,
        target_contact_count: 3,
        target_segment_names: ['VIP Customers', 'New Subscribers'],
      },
      position: body.position,
    })
    t.equal(created.headers['x-event-position'], String(body.position))
    const { events } = await services.store.readStream(`campaign-${body.data.id}`)
    t.same(events.map((event) => event.type), ['campaignCreated'])
    t.match(events[0]!.data, {
      tenantId: session.tenantId,
      targetContactIds: [asha, gift, daudi],
      targetSegments: [
        { segmentId: vipSegment, name: 'VIP Customers', criteria: { tags: ['vip'] } },
        { segmentId: newSegment, name: 'New Subscribers', criteria: { tags: ['new'] } },
      ],
      targetCriteria: { tags: ['premium'], optInStatus: 'any' },
      settings: { send_time: '09:00', timezone: 'Africa/Dar_es_Salaam' },
      isRecurring: false,
      totalRecipients: 4,
      cost: { currency: 'USD', channel: 'sms', billableParts: 1, pricePerPart: 0.25, estimatedCost: 1 },
      createdBy: { userId: session.userId, name: 'Amina Juma' },
    })

    const detail = await request(session, 'GET', `/api/messaging/campaigns/${body.data.id}/?min_position=${body.position}`)
    t.equal(detail.statusCode, 200, detail.body)
    t.equal(detail.headers['x-read-model-caught-up'], 'true')
    t.match(detail.json().data, { status: 'draft', total_recipients: 4, estimated_cost: 1, target_segment_names: ['VIP Customers', 'New Subscribers'], target_contact_count: 3 })
  })

  t.test('WhatsApp and long or Unicode texts are priced per channel and part', async (t) => {
    const whatsapp = await ok(request(session, 'POST', '/api/messaging/campaigns/?dry_run=true', { ...smartBody, campaign_type: 'whatsapp' }))
    t.equal(whatsapp.data.estimated_cost, 2, '4 × 0.5')
    const unicode = await ok(request(session, 'POST', '/api/messaging/campaigns/?dry_run=true', { ...smartBody, message_text: `Habari 😊 ${'x'.repeat(70)}` }))
    t.equal(unicode.data.estimated_cost, 2, 'UCS-2, 80 code units: 2 parts × 4 × 0.25')
  })

  t.test('the message may come from an approved template', async (t) => {
    const template = await ok(
      request(session, 'POST', '/api/messaging/templates/', { name: 'Promo', channel: 'sms', category: 'marketing', language: 'en', content: 'Hi {{first_name}}, 20% off today' }),
      201,
    )
    const templateId = template.data.id
    const withTemplate = { name: 'Templated', template: templateId, target_contact_ids: [asha] }
    const before = await eventCount()
    const draft = await request(session, 'POST', '/api/messaging/campaigns/', withTemplate)
    t.equal(draft.statusCode, 400, draft.body)
    t.same(draft.json(), { success: false, message: 'Validation failed', errors: { template: ['Template must be approved before use (current status: draft).'] } })
    t.equal(await eventCount(), before)

    await ok(request(session, 'POST', `/api/messaging/templates/${templateId}/approve/`))
    const approved = await ok(request(session, 'POST', '/api/messaging/campaigns/', withTemplate), 201)
    t.match(approved.data, { name: 'Templated', total_recipients: 1, estimated_cost: 0.25, target_contact_count: 1 })
    const [event] = (await services.store.readStream(`campaign-${approved.data.id}`)).events
    t.match(event?.data, { templateId, messageText: 'Hi {{first_name}}, 20% off today' })

    const foreign = await request(other, 'POST', '/api/messaging/campaigns/', withTemplate)
    t.equal(foreign.statusCode, 400, foreign.body)
    t.same(foreign.json().errors, { template: ['Template not found.'] })
  })

  t.test('a scheduled time in the future schedules the campaign; one in the past is refused', async (t) => {
    const created = await ok(request(session, 'POST', '/api/messaging/campaigns/', { ...smartBody, name: 'Later', scheduled_at: '2026-03-11T12:00:00+03:00' }), 201)
    t.equal(created.data.status, 'scheduled')
    const { events } = await services.store.readStream(`campaign-${created.data.id}`)
    t.same(events.map((event) => event.type), ['campaignCreated', 'campaignScheduled'])
    t.match(events[1]!.data, { scheduledAt: '2026-03-11T09:00:00.000Z', name: 'Later' })
    const detail = await ok(request(session, 'GET', `/api/messaging/campaigns/${created.data.id}/?min_position=${created.position}`))
    t.match(detail.data, { status: 'scheduled', status_display: 'Scheduled', scheduled_at: '2026-03-11T09:00:00.000Z', is_active: true, can_edit: true, can_start: true })

    const before = await eventCount()
    for (const past of ['2026-03-10T08:59:00Z', NOW]) {
      const refused = await request(session, 'POST', '/api/messaging/campaigns/', { ...smartBody, scheduled_at: past })
      t.equal(refused.statusCode, 400, refused.body)
      t.same(refused.json(), { success: false, message: 'Validation failed', errors: { scheduled_at: ['Scheduled time must be in the future.'] } })
    }
    t.equal(await eventCount(), before)
  })

  t.test('segments must be the tenant’s and exist; criteria {} and null select nobody', async (t) => {
    const goneSegment = await createSegment(session, 'Gone', { tags: ['vip'] })
    await deleteSegment(session, goneSegment)
    const before = await eventCount()
    const refused = await request(session, 'POST', '/api/messaging/campaigns/', { ...smartBody, target_segment_ids: [vipSegment, foreignSegment, UNKNOWN_ID, goneSegment] })
    t.equal(refused.statusCode, 400, refused.body)
    t.same(refused.json(), {
      success: false,
      message: 'Validation failed',
      errors: { target_segment_ids: [`Segment not found: ${foreignSegment}.`, `Segment not found: ${UNKNOWN_ID}.`, `Segment not found: ${goneSegment}.`] },
    })
    t.equal(await eventCount(), before, 'the refused create appended nothing')

    for (const criteria of [{}, null]) {
      const none = await ok(request(session, 'POST', '/api/messaging/campaigns/?dry_run=true', { name: 'Nobody', message_text: 'Hi', target_criteria: criteria }))
      t.same(none.data, { total_recipients: 0, estimated_cost: 0, explanations: [] })
    }
    const everyone = await ok(request(session, 'POST', '/api/messaging/campaigns/?dry_run=true', { name: 'All', message_text: 'Hi', target_criteria: { opt_in_status: 'any' } }))
    t.same(everyone.data, { total_recipients: 4, estimated_cost: 1, explanations: ['Opted-out contacts excluded: 1 contact', 'Contacts never opted in excluded: 1 contact', 'Invalid numbers excluded: 1 contact'] })
  })

  t.test('bad input is refused in the validation shape and appends nothing', async (t) => {
    const before = await eventCount()
    const create = (payload: object) => request(session, 'POST', '/api/messaging/campaigns/', payload)

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
      target_contact_ids: [asha, 'nope'],
      target_segment_ids: ['nope'],
      target_criteria: { tags: [''], opt_in_status: 'maybe', colour: 'red' },
      settings: 'fast',
      is_recurring: 'no',
      recurring_schedule: [],
    })
    t.equal(wrong.statusCode, 400)
    const { errors } = wrong.json()
    t.same(Object.keys(errors).sort(), [
      'campaign_type',
      'is_recurring',
      'message_text',
      'name',
      'recurring_schedule',
      'scheduled_at',
      'settings',
      'target_contact_ids.1',
      'target_criteria.colour',
      'target_criteria.opt_in_status',
      'target_criteria.tags.0',
      'target_segment_ids.0',
      'template',
    ])
    t.same(errors.message_text, ['Ensure this field has no more than 1600 characters.'])
    t.same(errors.template, ['Must be a valid uuid.'])

    const blank = await create({ name: '  ', message_text: '  ' })
    t.equal(blank.statusCode, 400)
    t.same(blank.json().errors, { name: ['This field may not be blank.'], message_text: ['This field may not be blank.'] })

    const both = await create({ name: 'T', template: UNKNOWN_ID, target_segment_ids: [UNKNOWN_ID] })
    t.equal(both.statusCode, 400)
    t.same(both.json().errors, { template: ['Template not found.'], target_segment_ids: [`Segment not found: ${UNKNOWN_ID}.`] }, 'both lookups’ errors at once')

    const badDryRun = await request(session, 'POST', '/api/messaging/campaigns/?dry_run=perhaps', smartBody)
    t.equal(badDryRun.statusCode, 400)
    t.same(Object.keys(badDryRun.json().errors), ['dry_run'])

    t.equal(await eventCount(), before)
  })

  t.test('editing a draft or scheduled campaign re-resolves its targets; other statuses are refused', async (t) => {
    const created = await ok(request(session, 'POST', '/api/messaging/campaigns/', { name: 'Edit me', message_text: 'Hi', target_contact_ids: [asha] }), 201)
    const id = created.data.id
    t.equal(created.data.total_recipients, 1)

    const edited = await request(session, 'PUT', `/api/messaging/campaigns/${id}/`, { name: 'Edited', target_segment_ids: [vipSegment], campaign_type: 'whatsapp' })
    t.equal(edited.statusCode, 200, edited.body)
    const body = edited.json()
    t.same(body, {
      success: true,
      message: 'Campaign updated successfully',
      data: {
        id,
        name: 'Edited',
        description: '',
        campaign_type: 'whatsapp',
        status: 'draft',
        // Asha (named) and the VIP segment: Asha again, Baraka (Daudi opted out, Fatma has no phone)
        total_recipients: 2,
        estimated_cost: 1,
        created_at: NOW,
        target_contact_count: 1,
        target_segment_names: ['VIP Customers'],
        message_text: 'Hi',
        template: null,
        scheduled_at: null,
        updated_at: NOW,
      },
      position: body.position,
    })
    const { events } = await services.store.readStream(`campaign-${id}`)
    t.match(events.at(-1), { type: 'campaignUpdated', data: { changedFields: ['name', 'campaign_type', 'target_segment_ids'], updatedBy: { name: 'Amina Juma' } } })
    const detail = await ok(request(session, 'GET', `/api/messaging/campaigns/${id}/?min_position=${body.position}`))
    t.match(detail.data, { name: 'Edited', campaign_type: 'whatsapp', campaign_type_display: 'WhatsApp', total_recipients: 2, estimated_cost: 1, target_segment_names: ['VIP Customers'] })

    const unchanged = await ok(request(session, 'PUT', `/api/messaging/campaigns/${id}`, { name: 'Edited' }))
    t.equal(unchanged.position, body.position, 'an edit that changes nothing appends nothing')

    const scheduled = await ok(request(session, 'PUT', `/api/messaging/campaigns/${id}/`, { scheduled_at: '2026-03-12T09:00:00Z' }))
    t.match(scheduled.data, { status: 'scheduled', scheduled_at: '2026-03-12T09:00:00.000Z' })
    const unscheduled = await ok(request(session, 'PUT', `/api/messaging/campaigns/${id}/`, { scheduled_at: null }))
    t.match(unscheduled.data, { status: 'draft', scheduled_at: null })

    const version = await streamVersion(id)
    const past = await request(session, 'PUT', `/api/messaging/campaigns/${id}/`, { scheduled_at: '2026-03-09T09:00:00Z' })
    t.equal(past.statusCode, 400)
    t.same(past.json().errors, { scheduled_at: ['Scheduled time must be in the future.'] })
    const bad = await request(session, 'PUT', `/api/messaging/campaigns/${id}/`, { name: '', message_text: null, target_segment_ids: [UNKNOWN_ID] })
    t.equal(bad.statusCode, 400)
    t.same(bad.json(), { success: false, message: 'Validation failed', errors: { name: ['This field may not be blank.'] } })
    const noMessage = await request(session, 'PUT', `/api/messaging/campaigns/${id}/`, { message_text: null })
    t.equal(noMessage.statusCode, 400)
    t.same(noMessage.json().errors, { message_text: ['This field is required unless a template is given.'] })
    const unknownSegment = await request(session, 'PUT', `/api/messaging/campaigns/${id}/`, { target_segment_ids: [foreignSegment] })
    t.equal(unknownSegment.statusCode, 400)
    t.same(unknownSegment.json().errors, { target_segment_ids: [`Segment not found: ${foreignSegment}.`] })
    const foreign = await request(other, 'PUT', `/api/messaging/campaigns/${id}/`, { name: 'Mine now' })
    t.equal(foreign.statusCode, 404)
    t.same(foreign.json(), { success: false, message: 'Campaign not found' })
    t.equal(await streamVersion(id), version, 'refused edits appended nothing')

    await ok(request(session, 'POST', `/api/messaging/campaigns/${id}/start/`))
    const running = await streamVersion(id)
    const refused = await request(session, 'PUT', `/api/messaging/campaigns/${id}/`, { name: 'Too late' })
    t.equal(refused.statusCode, 400, refused.body)
    t.same(refused.json(), {
      success: false,
      message: 'Campaign cannot be edited',
      error_code: 'INVALID_STATUS',
      details: { current_status: 'running', allowed_statuses: ['draft', 'scheduled'] },
    })
    t.equal(await streamVersion(id), running)
  })

  t.test('only drafts are deleted; a deleted campaign is gone', async (t) => {
    const draft = await ok(request(session, 'POST', '/api/messaging/campaigns/', { name: 'Delete me', message_text: 'Hi' }), 201)
    const id = draft.data.id
    const foreign = await request(other, 'DELETE', `/api/messaging/campaigns/${id}/`)
    t.equal(foreign.statusCode, 404)
    t.equal(await streamVersion(id), 0)

    const deleted = await request(session, 'DELETE', `/api/messaging/campaigns/${id}/`)
    t.equal(deleted.statusCode, 200, deleted.body)
    const body = deleted.json()
    t.same(body, { success: true, message: 'Campaign deleted successfully', data: { id, deleted_at: NOW }, position: body.position })
    const { events } = await services.store.readStream(`campaign-${id}`)
    t.match(events.at(-1), { type: 'campaignDeleted', data: { name: 'Delete me', deletedBy: { userId: session.userId } } })

    const detail = await request(session, 'GET', `/api/messaging/campaigns/${id}/?min_position=${body.position}`)
    t.equal(detail.statusCode, 404)
    t.same(detail.json(), { success: false, message: 'Campaign not found' })
    const list = await ok(request(session, 'GET', `/api/messaging/campaigns/?page_size=100&min_position=${body.position}`))
    t.notOk(list.data.results.some((campaign: { id: string }) => campaign.id === id), 'not listed')
    for (const [method, url] of [
      ['DELETE', `/api/messaging/campaigns/${id}/`],
      ['PUT', `/api/messaging/campaigns/${id}/`],
      ['POST', `/api/messaging/campaigns/${id}/start/`],
      ['POST', `/api/messaging/campaigns/${id}/cancel/`],
    ] as const) {
      const gone = await request(session, method, url, method === 'PUT' ? { name: 'Back' } : undefined)
      t.equal(gone.statusCode, 404, `${method} ${url}`)
    }
    t.equal(await streamVersion(id), 1)

    const scheduled = await ok(request(session, 'POST', '/api/messaging/campaigns/', { name: 'Scheduled', message_text: 'Hi', scheduled_at: '2026-04-01T00:00:00Z' }), 201)
    const refused = await request(session, 'DELETE', `/api/messaging/campaigns/${scheduled.data.id}/`)
    t.equal(refused.statusCode, 400)
    t.same(refused.json(), {
      success: false,
      message: 'Campaign cannot be deleted',
      error_code: 'INVALID_STATUS',
      details: { current_status: 'scheduled', allowed_statuses: ['draft'] },
    })
    t.equal(await streamVersion(scheduled.data.id), 1)
  })
})
