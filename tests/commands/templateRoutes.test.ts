import t from 'tap'
import { sql } from 'kysely'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

const welcome = {
  name: 'Welcome message',
  channel: 'whatsapp',
  category: 'Onboarding',
  language: 'sw',
  content: 'Habari {{first_name}}! Karibu {{company}}. Tumia {{code}}, {{first_name}}.',
}

t.test('templates over HTTP', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'templates_http' })
  const session = await registerUser(app, { first_name: 'Amina', last_name: 'Juma' })
  const other = await registerUser(app, { tenant_name: 'Other Ltd' })
  /** every template event ever recorded, committed or not yet visible to global readers */
  const templateEventCount = async () =>
    (await sql<{ n: number }>`select count(*)::int as n from es_events where category = 'template'`.execute(services.database.db)).rows[0]!.n

  const created = await app.inject(as(session, { method: 'POST', url: '/api/messaging/templates/', payload: welcome }))
  t.equal(created.statusCode, 201, created.body)
  const body = created.json()
  t.equal(body.success, true)
  t.type(body.position, 'number')
  t.equal(created.headers['x-event-position'], String(body.position))
  const template = body.data
  t.match(template, {
    id: /^[0-9a-f-]{36}$/,
    name: 'Welcome message',
    channel: 'whatsapp',
    category: 'onboarding',
    language: 'sw',
    content: welcome.content,
    status: 'draft',
    created_at: '2026-03-10T09:00:00.000Z',
    updated_at: '2026-03-10T09:00:00.000Z',
    approved_at: null,
    approved_by: null,
  })
  t.same(template.variables, ['first_name', 'company', 'code'])

  t.test('approve', async (t) => {
    const approved = await app.inject(as(session, { method: 'POST', url: `/api/messaging/templates/${template.id}/approve/` }))
    t.equal(approved.statusCode, 200, approved.body)
    const answer = approved.json()
    t.equal(answer.success, true)
    t.equal(answer.message, 'Template approved successfully')
    t.ok(answer.position > body.position, 'the approval comes after the creation')
    t.match(answer.data, { id: template.id, status: 'approved', approved_by: 'Amina Juma', approved_at: '2026-03-10T09:00:00.000Z' })

    const { events } = await services.store.readStream(`template-${template.id}`)
    t.same(events.map((event) => event.type), ['templateCreated', 'templateApproved'])
    t.match(events[1]!.data, { approvedBy: { userId: session.userId, name: 'Amina Juma' }, name: 'Welcome message', category: 'onboarding' })
    t.match(events[1]!.metadata, { tenantId: session.tenantId, userId: session.userId })
  })

  t.test('approve twice is refused and appends nothing', async (t) => {
    const before = await templateEventCount()
    const again = await app.inject(as(session, { method: 'POST', url: `/api/messaging/templates/${template.id.toUpperCase()}/approve` }))
    t.equal(again.statusCode, 400, again.body)
    t.same(again.json(), {
      success: false,
      message: 'Template cannot be approved',
      error_code: 'INVALID_STATUS',
      details: { current_status: 'approved', allowed_statuses: ['draft', 'pending'] },
    })
    t.equal(await templateEventCount(), before)
  })

  t.test("another tenant's template is not found", async (t) => {
    const before = await templateEventCount()
    const foreign = await app.inject(as(other, { method: 'POST', url: `/api/messaging/templates/${template.id}/approve/` }))
    t.equal(foreign.statusCode, 404, foreign.body)
    t.same(foreign.json(), { success: false, message: 'Template not found' })

    const unknown = await app.inject(as(other, { method: 'POST', url: '/api/messaging/templates/3f8a2c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b/approve/' }))
    t.equal(unknown.statusCode, 404)
    t.same(unknown.json(), { success: false, message: 'Template not found' })

    const notAnId = await app.inject(as(other, { method: 'POST', url: '/api/messaging/templates/not-a-uuid/approve/' }))
    t.equal(notAnId.statusCode, 400)
    t.equal(notAnId.json().message, 'Validation failed')
    t.equal(await templateEventCount(), before)
  })

  t.test('bad input is refused in the validation shape and appends nothing', async (t) => {
    const before = await templateEventCount()
    const post = (payload: unknown) => app.inject(as(session, { method: 'POST', url: '/api/messaging/templates/', payload: payload as object }))

    const missing = await post({ name: 'No content', channel: 'sms', category: 'x', language: 'en' })
    t.equal(missing.statusCode, 400)
    t.same(missing.json(), { success: false, message: 'Validation failed', errors: { content: ['This field is required.'] } })

    const wrong = await post({ ...welcome, channel: 'email', language: 'EN', category: 'c'.repeat(51), name: '' })
    t.equal(wrong.statusCode, 400)
    const { errors } = wrong.json()
    t.same(Object.keys(errors).sort(), ['category', 'channel', 'language', 'name'])
    t.same(errors.language, ['Has an invalid format.'])
    t.same(errors.category, ['Ensure this field has no more than 50 characters.'])

    const blank = await post({ ...welcome, name: '   ', category: '  ' })
    t.equal(blank.statusCode, 400)
    t.same(blank.json(), { success: false, message: 'Validation failed', errors: { name: ['This field may not be blank.'], category: ['This field may not be blank.'] } })

    const tooLong = await post({ ...welcome, content: 'x'.repeat(4097) })
    t.equal(tooLong.statusCode, 400)
    t.same(tooLong.json().errors, { content: ['Ensure this field has no more than 4096 characters.'] })

    t.equal(await templateEventCount(), before)
  })

  t.test('a language with a region and an SMS template without variables', async (t) => {
    const sms = await app.inject(as(session, {
      method: 'POST',
      url: '/api/messaging/templates',
      payload: { name: ' Reminder ', channel: 'sms', category: 'Transactional', language: 'en-gb', content: 'Your appointment is tomorrow.' },
    }))
    t.equal(sms.statusCode, 201, sms.body)
    t.match(sms.json().data, { name: 'Reminder', channel: 'sms', category: 'transactional', language: 'en-gb', variables: [], status: 'draft' })
  })

  t.test('without a token', async (t) => {
    const create = await app.inject({ method: 'POST', url: '/api/messaging/templates/', payload: welcome })
    t.equal(create.statusCode, 401)
    t.same(create.json(), { detail: 'Authentication credentials were not provided.' })
    const approve = await app.inject({ method: 'POST', url: `/api/messaging/templates/${template.id}/approve/` })
    t.equal(approve.statusCode, 401)
    t.same(approve.json(), { detail: 'Authentication credentials were not provided.' })
  })
})
