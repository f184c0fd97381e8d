import t from 'tap'
import { sql } from 'kysely'
import { ManualClock } from '../../infra/clock.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

const KEY_FIELDS = ['id', 'name', 'prefix', 'user_id', 'tenant_id', 'role', 'is_active', 'created_at', 'last_used_at', 'revoked_at']

t.test('API keys', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { label: 'auth_api_keys', clock })
  const db = services.database.db
  const eventCount = () => committedEventCount(db)
  const session = await registerUser(app, { first_name: 'Amina', last_name: 'Juma', tenant_name: 'Acme' })
  const other = await registerUser(app, { tenant_name: 'Other Ltd' })

  const generated = await app.inject(as(session, { method: 'POST', url: '/api/auth/api-key/generate/', payload: { name: 'Nightly import' } }))
  t.equal(generated.statusCode, 201, generated.body)
  const body = generated.json()
  t.equal(body.success, true)
  t.type(body.message, 'string')
  t.equal(generated.headers['cache-control'], 'no-store')
  t.same(Object.keys(body.data).sort(), [...KEY_FIELDS, 'key'].sort())
  const key: string = body.data.key
  t.match(key, /^mk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
  t.match(body.data, {
    name: 'Nightly import',
    prefix: key.split('_')[1],
    user_id: session.userId,
    tenant_id: session.tenantId,
    role: 'admin',
    is_active: true,
    created_at: '2026-03-10T09:00:00.000Z',
    last_used_at: null,
    revoked_at: null,
  })

  t.test('only a hash is stored', async (t) => {
    const rows = (await sql<{ key_hash: string; prefix: string }>`select key_hash, prefix from api_keys`.execute(db)).rows
    t.equal(rows.length, 1)
    t.match(rows[0]!.key_hash, /^[0-9a-f]{64}$/)
    t.notOk(JSON.stringify(rows).includes(key.split('_').slice(2).join('_')), 'the secret is nowhere in the table')
    const { events } = await services.store.readStream(`user-${session.userId}`)
    t.notOk(JSON.stringify(events).includes(key), 'nor in the log')
  })

  const contact = (headers: Record<string, string>, phone: string) =>
    app.inject({ method: 'POST', url: '/api/messaging/contacts/', headers, payload: { name: 'Scripted', phone_e164: phone } })

  t.test('a key authenticates a tenant route, in either header', async (t) => {
    const byAuthorization = await contact({ authorization: `Api-Key ${key}` }, '+255700000101')
    t.equal(byAuthorization.statusCode, 201, byAuthorization.body)
    const contactId = byAuthorization.json().data.id
    const byHeader = await contact({ 'x-api-key': key }, '+255700000102')
    t.equal(byHeader.statusCode, 201, byHeader.body)

    const { events } = await services.store.readStream(`contact-${contactId}`)
    t.match(events[0]!.metadata, { tenantId: session.tenantId, userId: session.userId }, 'the key acts as its owner in its tenant')

    const profile = await app.inject({ method: 'GET', url: '/api/auth/profile/', headers: { 'x-api-key': key } })
    t.equal(profile.statusCode, 200)
    t.match(profile.json().data, { id: session.userId, tenant_id: session.tenantId })

    const rows = (await sql<{ last_used_at: Date }>`select last_used_at from api_keys`.execute(db)).rows
    t.equal(new Date(rows[0]!.last_used_at).toISOString(), '2026-03-10T09:00:00.000Z', 'last_used_at is recorded')

    const list = await app.inject(as(session, { method: 'GET', url: '/api/auth/api-key/' }))
    t.equal(list.statusCode, 200)
    t.equal(list.json().data.count, 1)
    t.same(Object.keys(list.json().data.results[0]).sort(), [...KEY_FIELDS].sort(), 'listed without the key')
  })

  t.test('unknown and malformed keys are refused with the spec body', async (t) => {
    const before = await eventCount()
    const forged = key.slice(0, -4) + (key.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    const attempts: Record<string, string>[] = [{ 'x-api-key': forged }, { authorization: `Api-Key ${forged}` }, { authorization: 'Api-Key mk_000000000000_' + 'A'.repeat(43) }, { 'x-api-key': 'nonsense' }]
    for (const headers of attempts) {
      const refused = await contact(headers, '+255700000103')
      t.equal(refused.statusCode, 401, JSON.stringify(headers))
      t.same(refused.json(), { detail: 'Authentication credentials were not provided.' })
    }
    t.equal(await eventCount(), before)
  })

  t.test('a key cannot mint keys, change the password or switch tenants', async (t) => {
    const mint = await app.inject({ method: 'POST', url: '/api/auth/api-key/generate/', headers: { 'x-api-key': key }, payload: {} })
    t.equal(mint.statusCode, 403)
    t.match(mint.json(), { detail: String })
    const password = await app.inject({
      method: 'POST',
      url: '/api/auth/password/change/',
      headers: { 'x-api-key': key },
      payload: { old_password: 'correct horse battery', new_password: 'whatever else' },
    })
    t.equal(password.statusCode, 403)
    const switched = await app.inject({ method: 'POST', url: '/api/tenants/switch/', headers: { 'x-api-key': key }, payload: { tenant_id: session.tenantId } })
    t.equal(switched.statusCode, 403)
  })

  t.test('revoke', async (t) => {
    const second = (await app.inject(as(session, { method: 'POST', url: '/api/auth/api-key/generate/' }))).json().data
    t.equal(second.name, 'API key', 'the name is optional')

    // another tenant's user cannot see the key
    const foreign = await app.inject(as(other, { method: 'POST', url: '/api/auth/api-key/revoke/', payload: { key_id: body.data.id } }))
    t.equal(foreign.statusCode, 404)
    t.same(foreign.json(), { success: false, message: 'API key not found' })
    const byPrefix = await app.inject(as(other, { method: 'POST', url: '/api/auth/api-key/revoke/', payload: { prefix: body.data.prefix } }))
    t.equal(byPrefix.statusCode, 404)

    const neither = await app.inject(as(session, { method: 'POST', url: '/api/auth/api-key/revoke/', payload: {} }))
    t.equal(neither.statusCode, 400)
    t.same(neither.json(), { success: false, message: 'Validation failed', errors: { key_id: ['This field is required (or give prefix).'] } })
    const badId = await app.inject(as(session, { method: 'POST', url: '/api/auth/api-key/revoke/', payload: { key_id: 'nope' } }))
    t.equal(badId.statusCode, 400)
    const anonymous = await app.inject({ method: 'POST', url: '/api/auth/api-key/revoke/', payload: { key_id: body.data.id } })
    t.equal(anonymous.statusCode, 401)

    clock.set('2026-03-10T10:00:00Z')
    const revoked = await app.inject(as(session, { method: 'POST', url: '/api/auth/api-key/revoke/', payload: { key_id: body.data.id } }))
    t.equal(revoked.statusCode, 200, revoked.body)
    t.same(Object.keys(revoked.json().data).sort(), [...KEY_FIELDS].sort())
    t.match(revoked.json(), { success: true, message: 'API key revoked successfully', data: { id: body.data.id, is_active: false, revoked_at: '2026-03-10T10:00:00.000Z' } })

    const refused = await contact({ 'x-api-key': key }, '+255700000104')
    t.equal(refused.statusCode, 401, 'a revoked key is refused at once')
    t.same(refused.json(), { detail: 'Authentication credentials were not provided.' })

    const twice = await app.inject(as(session, { method: 'POST', url: '/api/auth/api-key/revoke/', payload: { prefix: body.data.prefix } }))
    t.equal(twice.statusCode, 400)
    t.same(twice.json(), {
      success: false,
      message: 'API key is already revoked',
      error_code: 'INVALID_STATUS',
      details: { current_status: 'revoked', allowed_statuses: ['active'] },
    })

    // the second key still works, and can revoke itself
    t.equal((await contact({ 'x-api-key': second.key }, '+255700000105')).statusCode, 201)
    const self = await app.inject({ method: 'POST', url: '/api/auth/api-key/revoke/', headers: { authorization: `Api-Key ${second.key}` }, payload: { prefix: second.prefix } })
    t.equal(self.statusCode, 200, self.body)
    t.equal((await contact({ 'x-api-key': second.key }, '+255700000106')).statusCode, 401)
  })

  t.test("an admin may revoke a member's key; a user may not revoke the admin's", async (t) => {
    const member = await registerUser(app, { email: 'agent.key@example.com', first_name: 'Agent' })
    const added = await app.inject(as(session, { method: 'POST', url: `/api/tenants/${session.tenantId}/members/`, payload: { email: 'agent.key@example.com', role: 'user' } }))
    t.equal(added.statusCode, 201, added.body)
    const switched = (await app.inject(as(member, { method: 'POST', url: '/api/tenants/switch/', payload: { tenant_id: session.tenantId } }))).json().data
    const memberHeaders = { authorization: `Bearer ${switched.access}` }
    const memberKey = (await app.inject({ method: 'POST', url: '/api/auth/api-key/generate/', headers: memberHeaders, payload: { name: 'member' } })).json().data
    t.match(memberKey, { role: 'user', tenant_id: session.tenantId, user_id: member.userId })

    const adminKey = (await app.inject(as(session, { method: 'POST', url: '/api/auth/api-key/generate/', payload: { name: 'admin' } }))).json().data
    const denied = await app.inject({ method: 'POST', url: '/api/auth/api-key/revoke/', headers: memberHeaders, payload: { key_id: adminKey.id } })
    t.equal(denied.statusCode, 404)

    const byAdmin = await app.inject(as(session, { method: 'POST', url: '/api/auth/api-key/revoke/', payload: { key_id: memberKey.id } }))
    t.equal(byAdmin.statusCode, 200, byAdmin.body)
  })
})
