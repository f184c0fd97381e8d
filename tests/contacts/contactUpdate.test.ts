import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { createContact } from '../support/messagingFixtures.ts'
import { as, registerUser, startTestApp, type Session, type TestApp } from '../support/testApp.ts'

/** PUT /contacts/{id}/: the profile replaced whole, with the upsert's validation and key rules. */

const DETAIL_FIELDS = [
  'attributes', 'created_at', 'email', 'id', 'is_active', 'is_opted_in', 'last_contacted_at', 'name', 'opt_in_at', 'opt_out_at', 'opt_out_reason', 'phone_e164', 'tags', 'updated_at',
]

const put = (app: TestApp['app'], session: Session, id: string, payload: unknown) =>
  app.inject(as(session, { method: 'PUT', url: `/api/messaging/contacts/${id}/`, payload: payload as object }))

t.test('PUT replaces the profile and moves the phone and email keys', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const testApp = await startTestApp(t, { label: 'contact_put', clock })
  const { app } = testApp
  const owner = await registerUser(app)
  const jane = await createContact(app, owner, {
    name: 'Jane Smith', phone_e164: '+255712000001', email: 'jane@example.com', tags: ['vip'], attributes: { company: 'Acme Corp', seats: 3 }, is_opted_in: true,
  })
  clock.advance(60_000)

  const response = await put(app, owner, jane, {
    name: '  Jane S.  ', phone_e164: '0712 000 009', email: 'Jane@New.Example.com', tags: ['Gold', 'gold ', 'new'], attributes: { tier: 'gold' },
  })
  t.equal(response.statusCode, 200, response.body)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['data', 'position', 'success'])
  t.same(Object.keys(body.data).sort(), DETAIL_FIELDS)
  t.same(body.data, {
    id: jane,
    name: 'Jane S.',
    phone_e164: '+255712000009',
    email: 'jane@new.example.com',
    is_active: true,
    is_opted_in: true,
    opt_in_at: '2026-03-10T09:00:00.000Z',
    last_contacted_at: null,
    attributes: { tier: 'gold' },
    tags: ['gold', 'new'],
    created_at: '2026-03-10T09:00:00.000Z',
    updated_at: '2026-03-10T09:01:00.000Z',
    opt_out_at: null,
    opt_out_reason: null,
  }, 'attributes replaced, not merged; is_opted_in left out keeps the status')
  t.equal(response.headers['x-event-position'], String(body.position))

  // the read model follows
  const details = await app.inject(as(owner, { method: 'GET', url: `/api/messaging/contacts/${jane}/?min_position=${body.position}` }))
  t.same(details.json().data, body.data)

  // fields left out take their defaults
  const bare = await put(app, owner, jane, { email: 'jane@new.example.com' })
  t.equal(bare.statusCode, 200, bare.body)
  t.match(bare.json().data, { name: 'jane@new.example.com', phone_e164: null, email: 'jane@new.example.com', tags: [], attributes: {}, is_active: true, is_opted_in: true })

  const unchanged = await committedEventCount(testApp.services.database.db)
  const again = await put(app, owner, jane, { email: 'jane@new.example.com' })
  t.same(again.json().data, bare.json().data)
  t.equal(await committedEventCount(testApp.services.database.db), unchanged, 'the same profile again appends nothing')

  // the old keys are free again, the new one is held
  const oldPhone = await app.inject(as(owner, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'New holder', phone_e164: '+255712000001' } }))
  t.equal(oldPhone.statusCode, 201, 'the old phone makes a new contact')
  const oldEmail = await app.inject(as(owner, { method: 'POST', url: '/api/messaging/contacts/', payload: { email: 'jane@example.com' } }))
  t.equal(oldEmail.statusCode, 201, 'the old email too')
  const newEmail = await app.inject(as(owner, { method: 'POST', url: '/api/messaging/contacts/', payload: { email: 'JANE@new.example.com', tags: ['x'] } }))
  t.equal(newEmail.statusCode, 200)
  t.match(newEmail.json().data, { id: jane, upserted: true })
  const dropped = await app.inject(as(owner, { method: 'POST', url: '/api/messaging/contacts/', payload: { phone_e164: '+255712000009' } }))
  t.equal(dropped.statusCode, 201, 'the phone PUT dropped is free')

  // opt-in status and is_active can be set along
  const optOut = await put(app, owner, jane, { email: 'jane@new.example.com', is_opted_in: false, is_active: false })
  t.match(optOut.json().data, { is_opted_in: false, is_active: false, opt_out_at: '2026-03-10T09:01:00.000Z', opt_out_reason: 'Opted out by contact update' })
})

t.test('PUT refusals append nothing', async (t) => {
  const testApp = await startTestApp(t, { label: 'contact_put_refused' })
  const { app } = testApp
  const owner = await registerUser(app)
  const stranger = await registerUser(app)
  const jane = await createContact(app, owner, { name: 'Jane', phone_e164: '+255712000001', email: 'jane@example.com' })
  const john = await createContact(app, owner, { name: 'John', phone_e164: '+255712000002', email: 'john@example.com' })
  const gone = await createContact(app, owner, { name: 'Gone', phone_e164: '+255712000003' })
  const deletion = await app.inject(as(owner, { method: 'DELETE', url: `/api/messaging/contacts/${gone}/` }))
  t.equal(deletion.statusCode, 200)
  const janeVersion = async () => (await testApp.services.store.readStream(`contact-${jane}`)).version
  const versionBefore = await janeVersion()
  const before = await committedEventCount(testApp.services.database.db)

  const duplicatePhone = await put(app, owner, jane, { name: 'Jane', phone_e164: '0712 000 002', email: 'jane@example.com' })
  t.equal(duplicatePhone.statusCode, 409)
  t.same(duplicatePhone.json(), {
    success: false,
    message: 'This phone already belongs to another contact',
    error_code: 'DUPLICATE_CONTACT',
    details: { field: 'phone_e164', contact_id: john },
  })
  const duplicateEmail = await put(app, owner, jane, { phone_e164: '+255712000001', email: 'JOHN@example.com' })
  t.equal(duplicateEmail.statusCode, 409)
  t.match(duplicateEmail.json(), { error_code: 'DUPLICATE_CONTACT', details: { field: 'email', contact_id: john } })

  const invalid: [unknown, Record<string, string[]>][] = [
    [{ name: 'Nobody' }, { phone_e164: ['Either phone_e164 or email is required.'] }],
    [{ phone_e164: null, email: null }, { phone_e164: ['Either phone_e164 or email is required.'] }],
    [{ phone_e164: '12' }, { phone_e164: ['Invalid E.164 format'] }],
    [{ email: 'not-an-email' }, { email: ['Enter a valid email address.'] }],
    [{ email: 'a@example.com', name: 5 }, { name: ['Must be string.'] }],
    [{ email: 'a@example.com', attributes: { nested: { a: 1 } } }, { 'attributes.nested': ['Does not match any allowed form.'] }],
    [{ email: 'a@example.com', tags: 'vip' }, { tags: ['Must be array.'] }],
  ]
  for (const [payload, errors] of invalid) {
    const response = await put(app, owner, jane, payload)
    t.equal(response.statusCode, 400, JSON.stringify(payload))
    t.same(response.json(), { success: false, message: 'Validation failed', errors }, JSON.stringify(payload))
  }
  const malformed = await app.inject(as(owner, { method: 'PUT', url: `/api/messaging/contacts/${jane}/`, headers: { 'content-type': 'application/json' }, payload: '{"name":' }))
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().message, 'Validation failed')

  for (const [label, session, id] of [
    ['another tenant', stranger, jane],
    ['deleted', owner, gone],
    ['unknown', owner, '00000000-0000-4000-8000-000000000000'],
  ] as const) {
    const response = await put(app, session, id, { name: 'Hijack', phone_e164: '+255712999999' })
    t.equal(response.statusCode, 404, label)
    t.same(response.json(), { success: false, message: 'Contact not found' }, label)
  }
  const notUuid = await put(app, owner, 'abc', { email: 'a@example.com' })
  t.equal(notUuid.statusCode, 400)
  const anonymous = await app.inject({ method: 'PUT', url: `/api/messaging/contacts/${jane}/`, payload: { email: 'a@example.com' } })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })

  t.equal(await committedEventCount(testApp.services.database.db), before, 'no refusal appended anything')
  t.equal(await janeVersion(), versionBefore)
  const keyStream = await testApp.services.store.readStream(`contactPhone-${owner.tenantId}:+255712999999`)
  t.equal(keyStream.version, -1, 'no key was claimed')
})

t.test('two PUTs racing for the same new phone: one wins, the other gets 409', async (t) => {
  const testApp = await startTestApp(t, { label: 'contact_put_race' })
  const { app } = testApp
  const owner = await registerUser(app)
  const contacts = await Promise.all([1, 2, 3, 4].map((i) => createContact(app, owner, { name: `C${i}`, email: `c${i}@example.com` })))
  const responses = await Promise.all(contacts.map((contact, i) => put(app, owner, contact, { name: `C${i + 1}`, email: `c${i + 1}@example.com`, phone_e164: '+255712000077' })))
  t.same(responses.map((response) => response.statusCode).sort(), [200, 409, 409, 409])
  const winner = responses.find((response) => response.statusCode === 200)!.json().data.id
  for (const loser of responses.filter((response) => response.statusCode === 409)) {
    t.match(loser.json(), { error_code: 'DUPLICATE_CONTACT', details: { field: 'phone_e164', contact_id: winner } })
  }
  const holder = await app.inject(as(owner, { method: 'POST', url: '/api/messaging/contacts/', payload: { phone_e164: '+255712000077' } }))
  t.equal(holder.json().data.id, winner)
})
