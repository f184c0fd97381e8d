import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { waitForHead } from '../support/eventLog.ts'
import { createContact } from '../support/messagingFixtures.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

/** Bulk import, opt-in/opt-out, delete and tenant isolation of the contact commands, over HTTP. */

const IMPORT_URL = '/api/messaging/contacts/bulk-import/'

// the projectors are not under test here: keep the commands alone on the database
const env = { RUN_PROJECTIONS: 'false' }

t.test('bulk import: counts and per-row results, as an array or as {contacts}', async (t) => {
  const { app } = await startTestApp(t, { label: 'contacts_import', env })
  const session = await registerUser(app)

  const existing = await app.inject(as(session, {
    method: 'POST',
    url: '/api/messaging/contacts/',
    payload: { name: 'Existing', phone_e164: '+255712100001', email: 'existing@example.com', tags: ['old'] },
  }))
  t.equal(existing.statusCode, 201)
  const existingId = existing.json().data.id

  const rows = [
    { name: 'Asha', phone_e164: '+255712100002', email: 'asha@example.com', tags: ['VIP'] }, // 1 created
    { name: 'Bad phone', phone_e164: '12' }, // 2 rejected: invalid phone
    { name: 'Asha again', phone_e164: '0712 100 002' }, // 3 rejected: same phone as row 1
    { name: 'Existing renamed', email: 'EXISTING@example.com' }, // 4 updated
    { name: 42, phone_e164: '+255712100003' }, // 5 rejected: wrong type
    'not an object', // 6 rejected
    { name: 'Neither' }, // 7 rejected: no phone, no email
    { name: 'Opted', phone_e164: '+255712100004', is_opted_in: true }, // 8 created
    { name: 'Email twin', email: 'asha@EXAMPLE.com' }, // 9 rejected: same email as row 1
  ]
  const response = await app.inject(as(session, { method: 'POST', url: IMPORT_URL, payload: rows }))
  t.equal(response.statusCode, 200, response.body)
  const body = response.json()
  t.equal(body.success, true)
  t.equal(body.message, 'Imported 2 new and updated 1 existing contacts; 6 rows rejected')
  t.type(body.position, 'number')
  t.ok(body.position > 0)
  const report = body.data
  t.match(report, { total_rows: 9, created: 2, updated: 1, rejected: 6 })
  t.type(report.import_id, 'string')
  t.equal(report.results.length, 9)
  t.match(report.results[0], { row: 1, status: 'created', contact_id: String })
  t.same(report.results[1], { row: 2, status: 'rejected', errors: { phone_e164: ['Invalid E.164 format'] } })
  t.same(report.results[2], { row: 3, status: 'rejected', errors: { non_field_errors: ['Duplicate of row 1 in this import.'] } })
  t.same(report.results[3], { row: 4, status: 'updated', contact_id: existingId })
  t.same(report.results[4], { row: 5, status: 'rejected', errors: { name: ['Must be string.'] } })
  t.same(report.results[5], { row: 6, status: 'rejected', errors: { non_field_errors: ['Must be object.'] } })
  t.same(report.results[6], { row: 7, status: 'rejected', errors: { phone_e164: ['Either phone_e164 or email is required.'] } })
  t.match(report.results[7], { row: 8, status: 'created', contact_id: String })
  t.same(report.results[8], { row: 9, status: 'rejected', errors: { non_field_errors: ['Duplicate of row 1 in this import.'] } })

  // the imported contacts are real: upserting the same phone finds them
  const asha = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { phone_e164: '+255712100002' } }))
  t.equal(asha.statusCode, 200)
  t.match(asha.json().data, { id: report.results[0].contact_id, name: 'Asha', email: 'asha@example.com', tags: ['vip'], upserted: true })
  const opted = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { phone_e164: '+255712100004' } }))
  t.match(opted.json().data, { id: report.results[7].contact_id, is_opted_in: true })
  const renamed = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { phone_e164: '+255712100001' } }))
  t.match(renamed.json().data, { id: existingId, name: 'Existing renamed', tags: ['old'] })

  // the same file wrapped in {contacts: [...]}: everything valid now exists, so it updates
  const wrapped = await app.inject(as(session, {
    method: 'POST',
    url: IMPORT_URL,
    payload: {
      contacts: [
        { name: 'Asha', phone_e164: '+255712100002' },
        { name: 'New one', email: 'new@example.com' },
        { phone_e164: '+255712100001', email: 'asha@example.com' }, // phone of one contact, email of another
      ],
    },
  }))
  t.equal(wrapped.statusCode, 200, wrapped.body)
  const wrappedReport = wrapped.json().data
  t.match(wrappedReport, { total_rows: 3, created: 1, updated: 1, rejected: 1 })
  t.same(wrappedReport.results[0], { row: 1, status: 'updated', contact_id: report.results[0].contact_id })
  t.match(wrappedReport.results[1], { row: 2, status: 'created', contact_id: String })
  t.same(wrappedReport.results[2], {
    row: 3,
    status: 'rejected',
    errors: { non_field_errors: ['The phone number and the email belong to two different contacts'] },
  })
  t.not(wrappedReport.import_id, report.import_id, 'each import has its own id')
})

t.test('bulk import: refused files', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'contacts_import_refused', env })
  const session = await registerUser(app)
  const refusals: [string, unknown, Record<string, string[]>][] = [
    ['empty array', [], { contacts: ['Provide at least one contact.'] }],
    ['empty contacts', { contacts: [] }, { contacts: ['Provide at least one contact.'] }],
  ]
  const tooMany = Array.from({ length: 10_001 }, (_, i) => ({ phone_e164: `+2557${20_000_000 + i}` }))
  refusals.push(['10,001 rows', tooMany, { contacts: ['Ensure this list has no more than 10000 items.'] }])
  refusals.push(['10,001 rows in {contacts}', { contacts: tooMany }, { contacts: ['Ensure this list has no more than 10000 items.'] }])

  const seed = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { phone_e164: '+255712100009' } }))
  await waitForHead(services.store, seed.json().position)
  const before = await services.store.headPosition()
  for (const [label, payload, errors] of refusals) {
    const response = await app.inject(as(session, { method: 'POST', url: IMPORT_URL, payload: payload as object }))
    t.equal(response.statusCode, 400, label)
    t.same(response.json(), { success: false, message: 'Validation failed', errors }, label)
  }
  for (const payload of [{ rows: [] }, 'text', 5]) {
    const response = await app.inject(as(session, { method: 'POST', url: IMPORT_URL, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) }))
    t.equal(response.statusCode, 400, `body ${JSON.stringify(payload)}`)
    t.equal(response.json().message, 'Validation failed')
  }
  t.equal(await services.store.headPosition(), before, 'a refused file writes nothing')

  const noAuth = await app.inject({ method: 'POST', url: IMPORT_URL, payload: [{ phone_e164: '+255712345678' }] })
  t.equal(noAuth.statusCode, 401)
})

t.test('bulk import: 2,000 rows', async (t) => {
  const { app } = await startTestApp(t, { label: 'contacts_import_big', env })
  const session = await registerUser(app)
  const rows = Array.from({ length: 2000 }, (_, i) => ({ name: `Contact ${i}`, phone_e164: `+2557${30_000_000 + i}` }))
  rows.push({ name: 'Duplicate of the first', phone_e164: '+255730000000' })
  const response = await app.inject(as(session, { method: 'POST', url: IMPORT_URL, payload: { contacts: rows } }))
  t.equal(response.statusCode, 200, response.body.slice(0, 500))
  const report = response.json().data
  t.match(report, { total_rows: 2001, created: 2000, updated: 0, rejected: 1 })
  t.equal(new Set(report.results.filter((r: { status: string }) => r.status === 'created').map((r: { contact_id: string }) => r.contact_id)).size, 2000)
  t.same(report.results[2000], { row: 2001, status: 'rejected', errors: { non_field_errors: ['Duplicate of row 1 in this import.'] } })
  t.ok(report.results.every((result: { row: number }, index: number) => result.row === index + 1), 'results in file order')
})

t.test('opt-in and opt-out answer the spec bodies', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app } = await startTestApp(t, { label: 'contacts_opt', env, clock })
  const session = await registerUser(app)
  const id = await createContact(app, session, { name: 'Opt', phone_e164: '+255712200001' })
  const url = (action: string) => `/api/messaging/contacts/${id}/${action}/`

  const optIn = await app.inject(as(session, { method: 'POST', url: url('opt-in') }))
  t.equal(optIn.statusCode, 200)
  const optInBody = optIn.json()
  t.same(Object.keys(optInBody).sort(), ['data', 'message', 'position', 'success'])
  t.same(
    { success: optInBody.success, message: optInBody.message, data: optInBody.data },
    { success: true, message: 'Contact opted in successfully', data: { id, is_opted_in: true, opt_in_at: '2026-03-10T09:00:00.000Z' } },
  )

  // opting in again changes nothing, not even the time
  clock.advance(60_000)
  const again = await app.inject(as(session, { method: 'POST', url: url('opt-in') }))
  t.same(again.json().data, { id, is_opted_in: true, opt_in_at: '2026-03-10T09:00:00.000Z' })
  t.equal(again.json().position, optInBody.position, 'no new event')

  const optOut = await app.inject(as(session, { method: 'POST', url: url('opt-out'), payload: { reason: 'User requested' } }))
  t.equal(optOut.statusCode, 200)
  const optOutBody = optOut.json()
  t.same(Object.keys(optOutBody).sort(), ['data', 'message', 'position', 'success'])
  t.same(
    { success: optOutBody.success, message: optOutBody.message, data: optOutBody.data },
    {
      success: true,
      message: 'Contact opted out successfully',
      data: { id, is_opted_in: false, opt_out_reason: 'User requested', opt_out_at: '2026-03-10T09:01:00.000Z' },
    },
  )
  t.ok(optOutBody.position > optInBody.position)

  // the reason is optional, and so is the body
  const second = await createContact(app, session, { name: 'Quiet', phone_e164: '+255712200002' })
  const bare = await app.inject(as(session, { method: 'POST', url: `/api/messaging/contacts/${second}/opt-out/` }))
  t.equal(bare.statusCode, 200, bare.body)
  t.same(bare.json().data, { id: second, is_opted_in: false, opt_out_reason: 'No reason given', opt_out_at: '2026-03-10T09:01:00.000Z' })

  const badReason = await app.inject(as(session, { method: 'POST', url: url('opt-out'), payload: { reason: 5 } }))
  t.equal(badReason.statusCode, 400)
  t.same(badReason.json(), { success: false, message: 'Validation failed', errors: { reason: ['Must be string.'] } })

  for (const action of ['opt-in', 'opt-out']) {
    const notUuid = await app.inject(as(session, { method: 'POST', url: `/api/messaging/contacts/not-a-uuid/${action}/` }))
    t.equal(notUuid.statusCode, 400, `${action} with a non-uuid id`)
    t.same(notUuid.json(), { success: false, message: 'Validation failed', errors: { id: ['Must be a valid uuid.'] } })
    const unknown = await app.inject(as(session, { method: 'POST', url: `/api/messaging/contacts/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}/${action}/` }))
    t.equal(unknown.statusCode, 404, `${action} of an unknown contact`)
    t.same(unknown.json(), { success: false, message: 'Contact not found' })
  }
})

t.test('delete, then the same phone makes a new contact', async (t) => {
  const { app } = await startTestApp(t, { label: 'contacts_delete', env })
  const session = await registerUser(app)
  const id = await createContact(app, session, { name: 'Gone', phone_e164: '+255712300001', email: 'gone@example.com' })

  const deleted = await app.inject(as(session, { method: 'DELETE', url: `/api/messaging/contacts/${id}/` }))
  t.equal(deleted.statusCode, 200, deleted.body)
  t.match(deleted.json(), { success: true, message: 'Contact deleted successfully', data: { id, deleted_at: '2026-03-10T09:00:00.000Z' } })

  for (const request of [
    { method: 'DELETE' as const, url: `/api/messaging/contacts/${id}/` },
    { method: 'POST' as const, url: `/api/messaging/contacts/${id}/opt-in/` },
    { method: 'POST' as const, url: `/api/messaging/contacts/${id}/opt-out/` },
  ]) {
    const response = await app.inject(as(session, request))
    t.equal(response.statusCode, 404, `${request.method} ${request.url} after the delete`)
  }

  const reborn = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'Back', phone_e164: '+255712300001' } }))
  t.equal(reborn.statusCode, 201, reborn.body)
  t.not(reborn.json().data.id, id, 'a new contact, not the deleted one')
  t.match(reborn.json().data, { upserted: false, name: 'Back', email: null })

  const byEmail = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { email: 'gone@example.com' } }))
  t.equal(byEmail.statusCode, 201, 'the email was freed too')
  t.not(byEmail.json().data.id, id)
  t.not(byEmail.json().data.id, reborn.json().data.id)
})

t.test("another tenant's contact is not found, and nothing is written", async (t) => {
  const { app, services } = await startTestApp(t, { label: 'contacts_tenancy', env })
  const owner = await registerUser(app)
  const stranger = await registerUser(app)
  const id = await createContact(app, owner, { name: 'Private', phone_e164: '+255712400001' })
  const last = await app.inject(as(owner, { method: 'POST', url: `/api/messaging/contacts/${id}/opt-in/` }))
  await waitForHead(services.store, last.json().position)

  const before = await services.store.headPosition()
  for (const request of [
    { method: 'POST' as const, url: `/api/messaging/contacts/${id}/opt-in/` },
    { method: 'POST' as const, url: `/api/messaging/contacts/${id}/opt-out/`, payload: { reason: 'Hijack' } },
    { method: 'DELETE' as const, url: `/api/messaging/contacts/${id}/` },
  ]) {
    const response = await app.inject(as(stranger, request))
    t.equal(response.statusCode, 404, `${request.method} ${request.url}`)
    t.same(response.json(), { success: false, message: 'Contact not found' })
  }
  const notUuid = await app.inject(as(stranger, { method: 'DELETE', url: '/api/messaging/contacts/123/' }))
  t.equal(notUuid.statusCode, 400)
  t.equal(await services.store.headPosition(), before, 'nothing appended')
  t.equal((await services.store.readStream(`contact-${id}`)).version, 1, "the owner's contact is untouched")

  // the owner's contact is intact
  const mine = await app.inject(as(owner, { method: 'POST', url: `/api/messaging/contacts/${id}/opt-in/` }))
  t.same(mine.json().data, { id, is_opted_in: true, opt_in_at: '2026-03-10T09:00:00.000Z' })
})
