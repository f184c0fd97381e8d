import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { ManualClock } from '../../infra/clock.ts'
import { appendsNothing } from '../support/eventLog.ts'
import { as, registerUser, startTestApp, type Session } from '../support/testApp.ts'

/**
 * Templates over HTTP: list and detail (read model), edit, review (submit, approve, reject) and
 * soft delete (commands). Reads after a command pass `?min_position=<its position>`.
 */
const START = '2026-03-10T09:00:00.000Z'

const TEMPLATE_FIELDS = [
  'approved_at', 'approved_by', 'category', 'channel', 'content', 'created_at', 'created_by', 'id', 'language', 'name',
  'rejected_at', 'rejected_by', 'rejection_reason', 'status', 'updated_at', 'variables',
]

function client(app: FastifyInstance, session: Session) {
  return {
    create: (payload: object) => app.inject(as(session, { method: 'POST', url: '/api/messaging/templates/', payload })),
    update: (id: string, payload?: object) => app.inject(as(session, { method: 'PUT', url: `/api/messaging/templates/${id}/`, ...(payload ? { payload } : {}) })),
    remove: (id: string) => app.inject(as(session, { method: 'DELETE', url: `/api/messaging/templates/${id}/` })),
    action: (id: string, action: 'submit' | 'approve' | 'reject', payload?: object) =>
      app.inject(as(session, { method: 'POST', url: `/api/messaging/templates/${id}/${action}/`, ...(payload ? { payload } : {}) })),
    get: (id: string, position?: number) =>
      app.inject(as(session, { method: 'GET', url: `/api/messaging/templates/${id}/${position === undefined ? '' : `?min_position=${position}`}` })),
    list: (query: string) => app.inject(as(session, { method: 'GET', url: `/api/messaging/templates/?${query}` })),
  }
}

t.test('templates over HTTP', async (t) => {
  const clock = new ManualClock(START)
  const { app, services } = await startTestApp(t, { clock, label: 'templates_crud' })
  const { database } = services
  const session = await registerUser(app, { first_name: 'Amina', last_name: 'Juma' })
  const stranger = await registerUser(app, { first_name: 'Sarah', last_name: 'Mwangi', tenant_name: 'Other Ltd' })
  const api = client(app, session)
  const theirs = client(app, stranger)

  // a catalogue of five templates, created a minute apart
  const specs = [
    { name: 'Welcome - Swahili', channel: 'whatsapp', category: 'Onboarding', language: 'sw', content: 'Karibu {{first_name}}!' },
    { name: 'Welcome - English', channel: 'whatsapp', category: 'onboarding', language: 'en', content: 'Welcome {{first_name}} to {{company}}.' },
    { name: 'Payment reminder', channel: 'sms', category: 'transactional', language: 'en', content: 'Your invoice {{invoice}} is due. 100% secure_link' },
    { name: 'Promo', channel: 'sms', category: 'marketing', language: 'sw', content: 'Punguzo la 30%! Tumia NEWYEAR30' },
    { name: 'Order shipped', channel: 'whatsapp', category: 'transactional', language: 'en', content: 'Order {{order_id}} is on its way' },
  ]
  const created: Record<string, { id: string; position: number; data: Record<string, unknown> }> = {}
  for (const spec of specs) {
    clock.advance(60_000)
    const response = await api.create(spec)
    t.equal(response.statusCode, 201, response.body)
    const body = response.json()
    created[spec.name] = { id: body.data.id, position: body.position, data: body.data }
  }
  const lastPosition = Math.max(...Object.values(created).map((entry) => entry.position))
  const welcome = created['Welcome - Swahili']!

  t.test('the command answer and the detail read are the same template', async (t) => {
    t.same(Object.keys(welcome.data).sort(), TEMPLATE_FIELDS)
    t.match(welcome.data, {
      name: 'Welcome - Swahili',
      channel: 'whatsapp',
      category: 'onboarding',
      language: 'sw',
      variables: ['first_name'],
      status: 'draft',
      created_by: 'Amina Juma',
      created_at: '2026-03-10T09:01:00.000Z',
      approved_at: null,
      rejected_at: null,
      rejection_reason: null,
    })
    const detail = await api.get(welcome.id.toUpperCase(), welcome.position)
    t.equal(detail.statusCode, 200, detail.body)
    t.equal(detail.headers['x-read-model-caught-up'], 'true')
    t.same(detail.json(), { success: true, data: welcome.data })
  })

  t.test('the list: shape, newest first, filters', async (t) => {
    const all = await api.list(`min_position=${lastPosition}`)
    t.equal(all.statusCode, 200, all.body)
    const body = all.json()
    t.same(Object.keys(body).sort(), ['data', 'success'])
    t.same(Object.keys(body.data).sort(), ['count', 'next', 'previous', 'results'])
    t.equal(body.data.count, 5)
    t.same(body.data.results.map((row: { name: string }) => row.name), ['Order shipped', 'Promo', 'Payment reminder', 'Welcome - English', 'Welcome - Swahili'])
    t.same(body.data.results[4], welcome.data, 'list rows have the shape of the command answers')
    t.same([body.data.next, body.data.previous], [null, null])

    const names = async (query: string): Promise<string[]> => {
      const response = await api.list(query)
      t.equal(response.statusCode, 200, `${query}: ${response.body}`)
      return response.json().data.results.map((row: { name: string }) => row.name)
    }
    t.same(await names('channel=sms'), ['Promo', 'Payment reminder'])
    t.same(await names('category=Transactional'), ['Order shipped', 'Payment reminder'], 'category in any case')
    t.same(await names('language=sw'), ['Promo', 'Welcome - Swahili'])
    t.same(await names('status=draft&channel=whatsapp&language=en'), ['Order shipped', 'Welcome - English'])
    t.same(await names('status=approved'), [])
    t.same(await names('search=WELCOME'), ['Welcome - English', 'Welcome - Swahili'], 'search in names, any case')
    t.same(await names('search=order'), ['Order shipped'], 'search in names and contents')
    t.same(await names('search=%7B%7Bcompany'), ['Welcome - English'], 'search in content: {{company')
    t.same(await names('search=100%25'), ['Payment reminder'], 'a % in the search is a literal')
    t.same(await names('search=r_'), ['Order shipped'], 'so is an underscore: r_ is in order_id only')
    t.same(await names('search=30%25'), ['Promo'])
  })

  t.test('pagination: next and previous', async (t) => {
    const first = (await api.list('page_size=2')).json().data
    t.equal(first.count, 5)
    t.equal(first.results.length, 2)
    t.equal(first.previous, null)
    t.match(first.next, /\/api\/messaging\/templates\/\?page_size=2&page=2$/)
    const last = (await api.list('page_size=2&page=3')).json().data
    t.same(last.results.map((row: { name: string }) => row.name), ['Welcome - Swahili'])
    t.equal(last.next, null)
    t.match(last.previous, /page=2/)
    const beyond = (await api.list('page_size=2&page=9')).json().data
    t.same([beyond.results, beyond.count], [[], 5])

    await appendsNothing(t, database.db, async () => {
      const bad = await api.list('page=0&page_size=500&status=archived&channel=email')
      t.equal(bad.statusCode, 400)
      t.same(bad.json(), {
        success: false,
        message: 'Validation failed',
        errors: {
          page: ['Ensure this value is greater than or equal to 1.'],
          page_size: ['Ensure this value is less than or equal to 100.'],
          status: ['Must be one of: draft, pending, approved, rejected.'],
          channel: ['Must be one of: sms, whatsapp.'],
        },
      })
    })
  })

  t.test('edit a draft: facts and variables change, the status stays', async (t) => {
    const { id } = created['Welcome - English']!
    clock.set('2026-03-10T10:00:00.000Z')
    const response = await api.update(id, { content: 'Hello {{ name }}, welcome to {{company}}!', category: 'Greetings', name: ' Welcome EN ' })
    t.equal(response.statusCode, 200, response.body)
    const body = response.json()
    t.equal(body.success, true)
    t.equal(body.message, 'Template updated successfully')
    t.type(body.position, 'number')
    t.equal(response.headers['x-event-position'], String(body.position))
    t.same(Object.keys(body.data).sort(), TEMPLATE_FIELDS)
    t.match(body.data, {
      id,
      name: 'Welcome EN',
      category: 'greetings',
      content: 'Hello {{ name }}, welcome to {{company}}!',
      variables: ['name', 'company'],
      status: 'draft',
      updated_at: '2026-03-10T10:00:00.000Z',
      created_at: '2026-03-10T09:02:00.000Z',
    })
    const detail = await api.get(id, body.position)
    t.same(detail.json().data, body.data, 'the read model agrees')
    const { events } = await services.store.readStream(`template-${id}`)
    t.match(events.at(-1), { type: 'templateUpdated', data: { status: 'draft', updatedBy: { userId: session.userId, name: 'Amina Juma' }, variables: ['name', 'company'] } })

    await appendsNothing(t, database.db, async () => {
      const same = await api.update(id, { name: 'Welcome EN', channel: 'whatsapp' })
      t.equal(same.statusCode, 200, 'nothing changed: 200')
      t.equal(same.json().position, body.position, 'and the position of the last change')
    })
  })

  t.test('review: submit, edit while pending, reject, edit back to draft, approve, locked', async (t) => {
    const { id } = created['Payment reminder']!
    clock.set('2026-03-10T11:00:00.000Z')
    const submitted = await api.action(id, 'submit')
    t.equal(submitted.statusCode, 200, submitted.body)
    t.match(submitted.json(), { success: true, message: 'Template submitted for review', data: { id, status: 'pending', updated_at: '2026-03-10T11:00:00.000Z' } })
    await appendsNothing(t, database.db, async () => {
      const again = await api.action(id, 'submit')
      t.equal(again.statusCode, 400)
      t.same(again.json(), {
        success: false,
        message: 'Template cannot be submitted for review',
        error_code: 'INVALID_STATUS',
        details: { current_status: 'pending', allowed_statuses: ['draft'] },
      })
    })

    const pendingEdit = await api.update(id, { content: 'Invoice {{invoice}} is due on {{due_date}}.' })
    t.equal(pendingEdit.statusCode, 200, pendingEdit.body)
    t.match(pendingEdit.json().data, { status: 'pending', variables: ['invoice', 'due_date'] })

    await appendsNothing(t, database.db, async () => {
      const noReason = await api.action(id, 'reject', {})
      t.equal(noReason.statusCode, 400)
      t.same(noReason.json(), { success: false, message: 'Validation failed', errors: { reason: ['This field is required.'] } })
      const blank = await api.action(id, 'reject', { reason: '   ' })
      t.equal(blank.statusCode, 400)
      t.same(blank.json().errors, { reason: ['This field may not be blank.'] })
      const tooLong = await api.action(id, 'reject', { reason: 'x'.repeat(501) })
      t.same(tooLong.json().errors, { reason: ['Ensure this field has no more than 500 characters.'] })
    })

    clock.set('2026-03-10T11:30:00.000Z')
    const rejected = await api.action(id, 'reject', { reason: 'Variables need sample values' })
    t.equal(rejected.statusCode, 200, rejected.body)
    const rejectedBody = rejected.json()
    t.match(rejectedBody, {
      success: true,
      message: 'Template rejected',
      data: { status: 'rejected', rejected_at: '2026-03-10T11:30:00.000Z', rejected_by: 'Amina Juma', rejection_reason: 'Variables need sample values' },
    })
    t.same((await api.get(id, rejectedBody.position)).json().data, rejectedBody.data)
    t.same((await api.list(`status=rejected&min_position=${rejectedBody.position}`)).json().data.results.map((row: { id: string }) => row.id), [id])

    await appendsNothing(t, database.db, async () => {
      const approveRejected = await api.action(id, 'approve')
      t.equal(approveRejected.statusCode, 400)
      t.same(approveRejected.json().details, { current_status: 'rejected', allowed_statuses: ['draft', 'pending'] })
      const rejectAgain = await api.action(id, 'reject', { reason: 'Again' })
      t.equal(rejectAgain.statusCode, 400)
      t.same(rejectAgain.json().details, { current_status: 'rejected', allowed_statuses: ['draft', 'pending'] })
    })

    clock.set('2026-03-10T12:00:00.000Z')
    const fixed = await api.update(id, { content: 'Invoice {{invoice}} (sample: INV-001) is due.' })
    t.equal(fixed.statusCode, 200, fixed.body)
    t.match(fixed.json().data, { status: 'draft', rejected_at: null, rejected_by: null, rejection_reason: null, variables: ['invoice'] })

    const approved = await api.action(id, 'approve')
    t.equal(approved.statusCode, 200, approved.body)
    t.match(approved.json().data, { status: 'approved', approved_by: 'Amina Juma', approved_at: '2026-03-10T12:00:00.000Z' })
    t.same((await api.get(id, approved.json().position)).json().data, approved.json().data)

    await appendsNothing(t, database.db, async () => {
      const locked = await api.update(id, { name: 'Renamed' })
      t.equal(locked.statusCode, 400, locked.body)
      t.same(locked.json(), {
        success: false,
        message: 'Template cannot be edited',
        error_code: 'INVALID_STATUS',
        details: { current_status: 'approved', allowed_statuses: ['draft', 'pending', 'rejected'] },
      })
      const rejectApproved = await api.action(id, 'reject', { reason: 'Too late' })
      t.equal(rejectApproved.statusCode, 400)
      t.equal(rejectApproved.json().error_code, 'INVALID_STATUS')
      const submitApproved = await api.action(id, 'submit')
      t.equal(submitApproved.statusCode, 400)
      t.same(submitApproved.json().details, { current_status: 'approved', allowed_statuses: ['draft'] })
    })
  })

  t.test('bad edits are 400s in the spec shape', async (t) => {
    const { id } = created['Promo']!
    await appendsNothing(t, database.db, async () => {
      const empty = await api.update(id, {})
      t.equal(empty.statusCode, 400)
      t.same(empty.json(), { success: false, message: 'Validation failed', errors: { non_field_errors: ['Give at least one of: name, channel, category, language, content.'] } })

      const noBody = await api.update(id)
      t.equal(noBody.statusCode, 400)
      t.same(noBody.json(), { success: false, message: 'Validation failed', errors: { non_field_errors: ['Must be object.'] } })

      const wrong = await api.update(id, { channel: 'email', language: 'EN', name: '', content: 'x'.repeat(4097), category: 7 })
      t.equal(wrong.statusCode, 400)
      t.same(wrong.json().errors, {
        name: ['This field may not be blank.'],
        channel: ['Must be one of: sms, whatsapp.'],
        category: ['Must be string.'],
        language: ['Has an invalid format.'],
        content: ['Ensure this field has no more than 4096 characters.'],
      })

      const blank = await api.update(id, { name: '  ', category: ' ', content: '   ' })
      t.same(blank.json(), {
        success: false,
        message: 'Validation failed',
        errors: { name: ['This field may not be blank.'], category: ['This field may not be blank.'], content: ['This field may not be blank.'] },
      })

      const malformed = await app.inject(as(session, { method: 'PUT', url: `/api/messaging/templates/${id}/`, headers: { 'content-type': 'application/json' }, payload: '{"name":' }))
      t.equal(malformed.statusCode, 400)
      t.equal(malformed.json().message, 'Validation failed')

      const notAnId = await api.update('not-a-uuid', { name: 'x' })
      t.equal(notAnId.statusCode, 400)
      t.same(notAnId.json().errors, { id: ['Must be a valid uuid.'] })
    })
  })

  t.test('delete: gone from the detail and the list, and from new campaigns', async (t) => {
    const { id } = created['Promo']!
    const approved = await api.action(id, 'approve')
    t.equal(approved.statusCode, 200, approved.body)
    const campaignWith = (templateId: string) =>
      app.inject(as(session, { method: 'POST', url: '/api/messaging/campaigns/', payload: { name: 'Promo run', template: templateId, target_contact_ids: [] } }))
    const before = await campaignWith(id)
    t.equal(before.statusCode, 201, `an approved template makes a campaign: ${before.body}`)

    clock.set('2026-03-10T13:00:00.000Z')
    const deleted = await api.remove(id.toUpperCase())
    t.equal(deleted.statusCode, 200, deleted.body)
    const body = deleted.json()
    t.same(body, { success: true, message: 'Template deleted successfully', data: { id, deleted_at: '2026-03-10T13:00:00.000Z' }, position: body.position })
    t.equal(deleted.headers['x-event-position'], String(body.position))

    const detail = await api.get(id, body.position)
    t.equal(detail.statusCode, 404)
    t.same(detail.json(), { success: false, message: 'Template not found' })
    const list = (await api.list(`min_position=${body.position}`)).json().data
    t.equal(list.count, 4)
    t.notOk(list.results.some((row: { id: string }) => row.id === id), 'not listed')
    t.same((await api.list('search=promo')).json().data.results, [])

    await appendsNothing(t, database.db, async () => {
      const after = await campaignWith(id)
      t.equal(after.statusCode, 400, after.body)
      t.same(after.json().errors?.template, ['Template not found.'])
      for (const response of [await api.remove(id), await api.update(id, { name: 'Back' }), await api.action(id, 'approve'), await api.action(id, 'submit'), await api.action(id, 'reject', { reason: 'x' })]) {
        t.equal(response.statusCode, 404)
        t.same(response.json(), { success: false, message: 'Template not found' })
      }
    })
  })

  t.test("another tenant's templates are not found", async (t) => {
    const { id, position } = created['Order shipped']!
    await appendsNothing(t, database.db, async () => {
      const detail = await theirs.get(id, position)
      t.equal(detail.statusCode, 404)
      t.same(detail.json(), { success: false, message: 'Template not found' })
      const list = (await theirs.list(`min_position=${position}`)).json().data
      t.same([list.results, list.count], [[], 0])
      for (const response of [
        await theirs.update(id, { name: 'Mine now' }),
        await theirs.remove(id),
        await theirs.action(id, 'submit'),
        await theirs.action(id, 'approve'),
        await theirs.action(id, 'reject', { reason: 'No' }),
      ]) {
        t.equal(response.statusCode, 404)
        t.same(response.json(), { success: false, message: 'Template not found' })
      }
      const unknown = await api.get('3f8a2c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b')
      t.equal(unknown.statusCode, 404)
      t.same(unknown.json(), { success: false, message: 'Template not found' })
    })
    t.match((await api.get(id)).json().data, { name: 'Order shipped', status: 'draft' }, 'unchanged')
  })

  t.test('without a token', async (t) => {
    const { id } = created['Order shipped']!
    await appendsNothing(t, database.db, async () => {
      for (const [method, url, payload] of [
        ['GET', '/api/messaging/templates/'],
        ['GET', `/api/messaging/templates/${id}/`],
        ['PUT', `/api/messaging/templates/${id}/`, { name: 'x' }],
        ['DELETE', `/api/messaging/templates/${id}/`],
        ['POST', `/api/messaging/templates/${id}/submit/`],
        ['POST', `/api/messaging/templates/${id}/approve/`],
        ['POST', `/api/messaging/templates/${id}/reject/`, { reason: 'x' }],
      ] as const) {
        const response = await app.inject({ method, url, ...(payload ? { payload } : {}) })
        t.equal(response.statusCode, 401, `${method} ${url}`)
        t.same(response.json(), { detail: 'Authentication credentials were not provided.' })
      }
    })
  })
})
