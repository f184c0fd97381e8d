import t from 'tap'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

t.test('contact upsert over HTTP', async (t) => {
  const { app } = await startTestApp(t, { label: 'contacts_http' })
  const session = await registerUser(app)

  const created = await app.inject(as(session, {
    method: 'POST',
    url: '/api/messaging/contacts/',
    payload: { name: 'Jane Smith', phone_e164: '+255 987 654 321', email: 'Jane@Example.com', tags: ['VIP', 'vip', ' Marketing '], attributes: { company: 'Acme Corp', seats: 3, paying: true } },
  }))
  t.equal(created.statusCode, 201, created.body)
  const body = created.json()
  t.equal(body.success, true)
  t.equal(body.data.phone_e164, '+255987654321')
  t.equal(body.data.email, 'jane@example.com')
  t.same(body.data.tags, ['vip', 'marketing'])
  t.equal(body.data.upserted, false)
  t.type(body.position, 'number')

  const again = await app.inject(as(session, {
    method: 'POST',
    url: '/api/messaging/contacts',
    payload: { name: 'Jane S.', phone_e164: '0987654321' },
  }))
  t.equal(again.statusCode, 200, again.body)
  t.equal(again.json().data.id, body.data.id)
  t.equal(again.json().data.upserted, true)
  t.equal(again.json().data.name, 'Jane S.')
  t.equal(again.json().data.email, 'jane@example.com')

  const bad = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'X', phone_e164: '12' } }))
  t.equal(bad.statusCode, 400)
  t.same(bad.json(), { success: false, message: 'Validation failed', errors: { phone_e164: ['Invalid E.164 format'] } })

  const wrongType = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 5, phone_e164: '+255712345678', attributes: { nested: { a: 1 } } } }))
  t.equal(wrongType.statusCode, 400, wrongType.body)
  t.ok(wrongType.json().errors.name)

  const malformed = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', headers: { 'content-type': 'application/json' }, payload: '{"name": ' }))
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().message, 'Validation failed')

  const noAuth = await app.inject({ method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'X' } })
  t.equal(noAuth.statusCode, 401)
  t.same(noAuth.json(), { detail: 'Authentication credentials were not provided.' })
})

t.test('an empty body sent as JSON counts as no body', async (t) => {
  const { app } = await startTestApp(t, { label: 'contacts_empty_body' })
  const session = await registerUser(app)
  const created = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'Asha', phone_e164: '+255713000001' } }))
  const id = created.json().data.id
  const optIn = await app.inject(as(session, { method: 'POST', url: `/api/messaging/contacts/${id}/opt-in/`, headers: { 'content-type': 'application/json' } }))
  t.equal(optIn.statusCode, 200, optIn.body)
  t.equal(optIn.json().data.is_opted_in, true)
  const optOut = await app.inject(as(session, { method: 'POST', url: `/api/messaging/contacts/${id}/opt-out/`, headers: { 'content-type': 'application/json' }, payload: '' }))
  t.equal(optOut.statusCode, 200, optOut.body)
  t.equal(optOut.json().data.opt_out_reason, 'No reason given')
  const missingBody = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', headers: { 'content-type': 'application/json' } }))
  t.equal(missingBody.statusCode, 400, 'a route that needs a body still refuses an empty one')
  t.equal(missingBody.json().message, 'Validation failed')
})
