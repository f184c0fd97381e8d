import t from 'tap'
import { findTenantSegment } from '../../commands/segments/segmentCommands.ts'
import { ManualClock } from '../../infra/clock.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { createContact } from '../support/messagingFixtures.ts'
import { as, registerUser, startTestApp, type Session, type TestApp } from '../support/testApp.ts'

/** Segments over HTTP: CRUD, counts from the contact directory, unique names, refusals. */

const SEGMENTS = '/api/messaging/segments/'
const SEGMENT_FIELDS = ['contact_count', 'created_at', 'created_by', 'created_by_name', 'criteria', 'description', 'id', 'last_counted_at', 'name', 'updated_at']
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000'

t.test('segments: create, count, update, list, delete', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const testApp = await startTestApp(t, { label: 'segments', clock })
  const { app, services } = testApp
  const owner = await registerUser(app, { first_name: 'David', last_name: 'Ochieng' })
  const stranger = await registerUser(app)

  const optedInVip = await createContact(app, owner, { name: 'A', phone_e164: '+255712300001', tags: ['vip'], is_opted_in: true, attributes: { city: 'Dar' } })
  const deletedVip = await createContact(app, owner, { name: 'B', phone_e164: '+255712300002', tags: ['vip'], is_opted_in: true })
  await app.inject(as(owner, { method: 'DELETE', url: `/api/messaging/contacts/${deletedVip}/` }))
  const neverOptedVip = await createContact(app, owner, { name: 'C', phone_e164: '+255712300003', tags: ['vip', 'premium'] })
  const optedOutVip = await createContact(app, owner, { name: 'D', phone_e164: '+255712300004', tags: ['vip'] })
  await app.inject(as(owner, { method: 'POST', url: `/api/messaging/contacts/${optedOutVip}/opt-out/`, payload: { reason: 'No thanks' } }))
  await createContact(app, owner, { name: 'E', phone_e164: '+255712300005', tags: ['regular'], is_opted_in: true, attributes: { city: 'Dar' } })
  await createContact(app, stranger, { name: 'F', phone_e164: '+255712300001', tags: ['vip'], is_opted_in: true })

  // create: counted at once
  const created = await app.inject(as(owner, {
    method: 'POST',
    url: SEGMENTS,
    payload: { name: '  VIP Customers ', description: 'Opted-in VIPs', criteria: { tags: ['VIP'], opt_in_status: 'opted_in' } },
  }))
  t.equal(created.statusCode, 201, created.body)
  const body = created.json()
  t.same(Object.keys(body).sort(), ['data', 'position', 'success'])
  t.same(Object.keys(body.data).sort(), SEGMENT_FIELDS)
  const segmentId = body.data.id
  t.same(body.data, {
    id: segmentId,
    name: 'VIP Customers',
    description: 'Opted-in VIPs',
    criteria: { tags: ['vip'], opt_in_status: 'opted_in' },
    contact_count: 1,
    last_counted_at: '2026-03-10T09:00:00.000Z',
    created_at: '2026-03-10T09:00:00.000Z',
    updated_at: '2026-03-10T09:00:00.000Z',
    created_by: owner.userId,
    created_by_name: 'David Ochieng',
  }, 'only the opted-in, non-deleted VIP of this tenant counts')

  // the read model answers the same
  const details = await app.inject(as(owner, { method: 'GET', url: `${SEGMENTS}${segmentId}/?min_position=${body.position}` }))
  t.equal(details.statusCode, 200)
  t.equal(details.headers['x-read-model-caught-up'], 'true')
  t.same(Object.keys(details.json()).sort(), ['data', 'success'])
  t.same(details.json().data, body.data)

  // update-count follows the contacts
  clock.advance(60_000)
  // counting waits for the contact directory to have seen every event committed before it
  await app.inject(as(owner, { method: 'POST', url: `/api/messaging/contacts/${neverOptedVip}/opt-in/` }))
  const recount = await app.inject(as(owner, { method: 'POST', url: `${SEGMENTS}${segmentId}/update-count/` }))
  t.equal(recount.statusCode, 200, recount.body)
  t.same(Object.keys(recount.json()).sort(), ['data', 'message', 'position', 'success'])
  t.equal(recount.json().message, 'Segment count updated successfully')
  t.match(recount.json().data, { id: segmentId, contact_count: 2, last_counted_at: '2026-03-10T09:01:00.000Z', updated_at: '2026-03-10T09:00:00.000Z' })
  clock.advance(60_000)
  await app.inject(as(owner, { method: 'DELETE', url: `/api/messaging/contacts/${optedInVip}/` }))
  const afterDelete = await app.inject(as(owner, { method: 'POST', url: `${SEGMENTS}${segmentId}/update-count/` }))
  t.match(afterDelete.json().data, { contact_count: 1, last_counted_at: '2026-03-10T09:02:00.000Z' })
  const shown = await app.inject(as(owner, { method: 'GET', url: `${SEGMENTS}${segmentId}/?min_position=${afterDelete.json().position}` }))
  t.match(shown.json().data, { contact_count: 1, last_counted_at: '2026-03-10T09:02:00.000Z' })

  // PUT replaces the definition; new criteria are counted at once
  clock.advance(60_000)
  const updated = await app.inject(as(owner, {
    method: 'PUT',
    url: `${SEGMENTS}${segmentId}/`,
    payload: { name: 'Dar customers', criteria: { attributes: { city: 'Dar' } } },
  }))
  t.equal(updated.statusCode, 200, updated.body)
  t.same(updated.json().data, {
    ...body.data,
    name: 'Dar customers',
    description: '',
    criteria: { opt_in_status: 'any', attributes: { city: 'Dar' } },
    contact_count: 1,
    last_counted_at: '2026-03-10T09:03:00.000Z',
    updated_at: '2026-03-10T09:03:00.000Z',
  }, 'A is deleted; E is from Dar')
  const optedOut = await app.inject(as(owner, { method: 'PUT', url: `${SEGMENTS}${segmentId}/`, payload: { name: 'Opted out', criteria: { opt_in_status: 'opted_out', is_active: true } } }))
  t.match(optedOut.json().data, { contact_count: 1, criteria: { opt_in_status: 'opted_out', is_active: true } })
  const never = await app.inject(as(owner, { method: 'PUT', url: `${SEGMENTS}${segmentId}/`, payload: { name: 'Never', criteria: { opt_in_status: 'never_opted_in' } } }))
  t.match(never.json().data, { contact_count: 0 }, 'C opted in since')

  // the campaigns' lookup
  t.match(await findTenantSegment(services.store, owner.tenantId, segmentId), { segmentId, name: 'Never', criteria: { optInStatus: 'never_opted_in' } })
  t.equal(await findTenantSegment(services.store, stranger.tenantId, segmentId), null, "another tenant's segment")
  t.equal(await findTenantSegment(services.store, owner.tenantId, UNKNOWN_ID), null)

  // the list: newest first, search by name, pages
  clock.advance(60_000)
  const second = await app.inject(as(owner, { method: 'POST', url: SEGMENTS, payload: { name: 'Premium', criteria: { tags: ['premium'] } } }))
  t.match(second.json().data, { contact_count: 1, criteria: { tags: ['premium'], opt_in_status: 'any' } })
  clock.advance(60_000)
  const third = await app.inject(as(owner, { method: 'POST', url: SEGMENTS, payload: { name: 'Everyone', criteria: {} } }))
  t.match(third.json().data, { contact_count: 3, description: '' })
  const theirs = await app.inject(as(stranger, { method: 'POST', url: SEGMENTS, payload: { name: 'Premium', criteria: {} } }))
  t.equal(theirs.statusCode, 201, 'names are unique per tenant only')
  const position = Math.max(third.json().position, theirs.json().position)
  const list = await app.inject(as(owner, { method: 'GET', url: `${SEGMENTS}?min_position=${position}` }))
  t.equal(list.statusCode, 200)
  t.same(Object.keys(list.json().data).sort(), ['count', 'next', 'previous', 'results'])
  t.same(list.json().data.results.map((segment: { name: string }) => segment.name), ['Everyone', 'Premium', 'Never'])
  for (const segment of list.json().data.results) t.same(Object.keys(segment).sort(), SEGMENT_FIELDS)
  const searched = await app.inject(as(owner, { method: 'GET', url: `${SEGMENTS}?min_position=${position}&search=PREM` }))
  t.same(searched.json().data.results.map((segment: { id: string }) => segment.id), [second.json().data.id])
  const page = await app.inject(as(owner, { method: 'GET', url: `${SEGMENTS}?min_position=${position}&page_size=2&page=2` }))
  t.match(page.json().data, { count: 3, next: null, results: [{ name: 'Never' }] })
  t.equal(new URL(page.json().data.previous).searchParams.get('page'), '1')

  // delete: gone from reads and commands, its name free again
  const deleted = await app.inject(as(owner, { method: 'DELETE', url: `${SEGMENTS}${segmentId}/` }))
  t.equal(deleted.statusCode, 200, deleted.body)
  t.same(deleted.json(), { success: true, message: 'Segment deleted successfully', data: { id: segmentId, deleted_at: '2026-03-10T09:05:00.000Z' }, position: deleted.json().position })
  t.equal(await findTenantSegment(services.store, owner.tenantId, segmentId), null, 'a deleted segment')
  const before = await committedEventCount(testApp.services.database.db)
  for (const request of [
    { method: 'GET' as const, url: `${SEGMENTS}${segmentId}/?min_position=${deleted.json().position}` },
    { method: 'PUT' as const, url: `${SEGMENTS}${segmentId}/`, payload: { name: 'Back', criteria: {} } },
    { method: 'DELETE' as const, url: `${SEGMENTS}${segmentId}/` },
    { method: 'POST' as const, url: `${SEGMENTS}${segmentId}/update-count/` },
  ]) {
    const response = await app.inject(as(owner, request))
    t.equal(response.statusCode, 404, `${request.method} a deleted segment`)
    t.same(response.json(), { success: false, message: 'Segment not found' })
  }
  t.equal(await committedEventCount(testApp.services.database.db), before, 'nothing appended')
  const afterList = await app.inject(as(owner, { method: 'GET', url: `${SEGMENTS}?min_position=${deleted.json().position}` }))
  t.equal(afterList.json().data.count, 2)
  const reused = await app.inject(as(owner, { method: 'POST', url: SEGMENTS, payload: { name: 'never', criteria: {} } }))
  t.equal(reused.statusCode, 201, 'the deleted segment name is free')
})

t.test('segment refusals append nothing', async (t) => {
  const testApp = await startTestApp(t, { label: 'segments_refused' })
  const { app } = testApp
  const owner = await registerUser(app)
  const stranger = await registerUser(app)
  const vip = await app.inject(as(owner, { method: 'POST', url: SEGMENTS, payload: { name: 'VIP', criteria: { tags: ['vip'] } } }))
  const other = await app.inject(as(owner, { method: 'POST', url: SEGMENTS, payload: { name: 'Other', criteria: {} } }))
  const vipId = vip.json().data.id
  const otherId = other.json().data.id
  const before = await committedEventCount(testApp.services.database.db)

  // names are unique in a tenant, whatever their case
  const duplicate = await app.inject(as(owner, { method: 'POST', url: SEGMENTS, payload: { name: ' vip ', criteria: {} } }))
  t.equal(duplicate.statusCode, 409)
  t.same(duplicate.json(), { success: false, message: 'A segment with this name already exists', error_code: 'DUPLICATE_SEGMENT', details: { field: 'name', name: 'vip', segment_id: vipId } })
  const renamed = await app.inject(as(owner, { method: 'PUT', url: `${SEGMENTS}${otherId}/`, payload: { name: 'VIP', criteria: {} } }))
  t.equal(renamed.statusCode, 409)
  t.match(renamed.json(), { error_code: 'DUPLICATE_SEGMENT', details: { segment_id: vipId } })

  const invalid: [unknown, Record<string, string[]>][] = [
    [{ criteria: {} }, { name: ['This field is required.'] }],
    [{ name: 'X' }, { criteria: ['This field is required.'] }],
    [{ name: '', criteria: {} }, { name: ['This field may not be blank.'] }],
    [{ name: '   ', criteria: {} }, { name: ['This field may not be blank.'] }],
    [{ name: 'X', criteria: { opt_in_status: 'maybe' } }, { 'criteria.opt_in_status': ['Must be one of: opted_in, opted_out, never_opted_in, any.'] }],
    [{ name: 'X', criteria: { tag: ['vip'] } }, { 'criteria.tag': ['Unknown field.'] }],
    [{ name: 'X', criteria: { attributes: { a: [1] } } }, { 'criteria.attributes.a': ['Does not match any allowed form.'] }],
    [{ name: 'X', description: 5, criteria: {} }, { description: ['Does not match any allowed form.'] }],
  ]
  for (const [payload, errors] of invalid) {
    for (const request of [{ method: 'POST' as const, url: SEGMENTS }, { method: 'PUT' as const, url: `${SEGMENTS}${vipId}/` }]) {
      const response = await app.inject(as(owner, { ...request, payload: payload as object }))
      t.equal(response.statusCode, 400, `${request.method} ${JSON.stringify(payload)}`)
      t.same(response.json(), { success: false, message: 'Validation failed', errors }, `${request.method} ${JSON.stringify(payload)}`)
    }
  }
  const list = await app.inject(as(owner, { method: 'GET', url: `${SEGMENTS}?page_size=0` }))
  t.equal(list.statusCode, 400)
  const notUuid = await app.inject(as(owner, { method: 'GET', url: `${SEGMENTS}nope/` }))
  t.same(notUuid.json(), { success: false, message: 'Validation failed', errors: { id: ['Must be a valid uuid.'] } })

  for (const request of [
    { method: 'GET' as const, url: `${SEGMENTS}${vipId}/` },
    { method: 'PUT' as const, url: `${SEGMENTS}${vipId}/`, payload: { name: 'Mine now', criteria: {} } },
    { method: 'DELETE' as const, url: `${SEGMENTS}${vipId}/` },
    { method: 'POST' as const, url: `${SEGMENTS}${vipId}/update-count/` },
    { method: 'GET' as const, url: `${SEGMENTS}${UNKNOWN_ID}/` },
  ]) {
    const response = await app.inject(as(stranger, request))
    t.equal(response.statusCode, 404, `${request.method} ${request.url} by another tenant`)
    t.same(response.json(), { success: false, message: 'Segment not found' })
  }
  const strangers = await app.inject(as(stranger, { method: 'GET', url: SEGMENTS }))
  t.equal(strangers.json().data.count, 0)

  for (const request of [
    { method: 'GET' as const, url: SEGMENTS },
    { method: 'POST' as const, url: SEGMENTS, payload: { name: 'X', criteria: {} } },
    { method: 'GET' as const, url: `${SEGMENTS}${vipId}/` },
    { method: 'PUT' as const, url: `${SEGMENTS}${vipId}/`, payload: { name: 'X', criteria: {} } },
    { method: 'DELETE' as const, url: `${SEGMENTS}${vipId}/` },
    { method: 'POST' as const, url: `${SEGMENTS}${vipId}/update-count/` },
  ]) {
    const response = await app.inject(request)
    t.equal(response.statusCode, 401, `${request.method} ${request.url} without a token`)
    t.same(response.json(), { detail: 'Authentication credentials were not provided.' })
  }
  t.equal(await committedEventCount(testApp.services.database.db), before, 'no refusal appended anything')
})

t.test('concurrent creates with one name make one segment', async (t) => {
  const { app } = await startTestApp(t, { label: 'segments_race' })
  const owner = await registerUser(app)
  const responses = await Promise.all(Array.from({ length: 6 }, (_, i) =>
    app.inject(as(owner, { method: 'POST', url: SEGMENTS, payload: { name: i % 2 === 0 ? 'Launch' : 'LAUNCH', criteria: {} } }))))
  t.same(responses.map((response) => response.statusCode).sort(), [201, 409, 409, 409, 409, 409])
})
