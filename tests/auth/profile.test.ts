import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { as, claimsOf, registerUser, startTestApp } from '../support/testApp.ts'

const PROFILE_FIELDS = ['id', 'email', 'first_name', 'last_name', 'full_name', 'is_email_verified', 'tenant_id', 'tenant_name', 'role', 'date_joined', 'updated_at']

t.test('register, login, refresh and the profile', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { label: 'auth_profile', clock })
  const eventCount = () => committedEventCount(services.database.db)

  const registered = await app.inject({
    method: 'POST',
    url: '/api/auth/register/',
    payload: { email: 'Amina.Juma@Example.com', password: 'correct horse battery', first_name: 'Amina', last_name: 'Juma', tenant_name: 'Acme Ltd' },
  })
  t.equal(registered.statusCode, 201, registered.body)
  const reg = registered.json()
  t.equal(reg.success, true)
  t.type(reg.position, 'number')
  t.type(reg.data.access, 'string')
  t.type(reg.data.refresh, 'string')
  t.same(Object.keys(reg.data.user).sort(), [...PROFILE_FIELDS].sort(), 'the user of register has the profile fields')
  t.match(reg.data.user, {
    email: 'amina.juma@example.com',
    first_name: 'Amina',
    last_name: 'Juma',
    full_name: 'Amina Juma',
    is_email_verified: false,
    tenant_name: 'Acme Ltd',
    role: 'admin',
    date_joined: '2026-03-10T09:00:00.000Z',
    updated_at: '2026-03-10T09:00:00.000Z',
  })
  const session = {
    access: reg.data.access as string,
    refresh: reg.data.refresh as string,
    userId: reg.data.user.id as string,
    tenantId: reg.data.user.tenant_id as string,
    headers: { authorization: `Bearer ${reg.data.access}` },
  }

  t.test('login answers tokens and the profile', async (t) => {
    const login = await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email: 'amina.juma@example.com', password: 'correct horse battery' } })
    t.equal(login.statusCode, 200, login.body)
    t.same(Object.keys(login.json().data).sort(), ['access', 'refresh', 'user'])
    t.same(Object.keys(login.json().data.user).sort(), [...PROFILE_FIELDS].sort())
    const wrong = await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email: 'amina.juma@example.com', password: 'wrong password' } })
    t.equal(wrong.statusCode, 401)
    t.same(wrong.json(), { detail: 'No active account found with the given credentials' })
  })

  t.test('refresh', async (t) => {
    const refreshed = await app.inject({ method: 'POST', url: '/api/auth/token/refresh/', payload: { refresh: session.refresh } })
    t.equal(refreshed.statusCode, 200, refreshed.body)
    t.same(Object.keys(refreshed.json().data).sort(), ['access', 'refresh'])
    const withAccess = await app.inject({ method: 'POST', url: '/api/auth/token/refresh/', payload: { refresh: session.access } })
    t.equal(withAccess.statusCode, 401, 'an access token is no refresh token')
    t.same(withAccess.json(), { detail: 'Token is invalid or expired' })
  })

  t.test('GET /auth/profile/', async (t) => {
    const profile = await app.inject(as(session, { method: 'GET', url: '/api/auth/profile/' }))
    t.equal(profile.statusCode, 200, profile.body)
    const body = profile.json()
    t.equal(body.success, true)
    t.same(Object.keys(body.data).sort(), [...PROFILE_FIELDS].sort())
    t.same(body.data, {
      id: session.userId,
      email: 'amina.juma@example.com',
      first_name: 'Amina',
      last_name: 'Juma',
      full_name: 'Amina Juma',
      is_email_verified: false,
      tenant_id: session.tenantId,
      tenant_name: 'Acme Ltd',
      role: 'admin',
      date_joined: '2026-03-10T09:00:00.000Z',
      updated_at: '2026-03-10T09:00:00.000Z',
    })
    const noSlash = await app.inject(as(session, { method: 'GET', url: '/api/auth/profile' }))
    t.equal(noSlash.statusCode, 200, 'the path works without the trailing slash too')
  })

  t.test('PUT /auth/profile/', async (t) => {
    clock.set('2026-03-10T10:00:00Z')
    const updated = await app.inject(as(session, { method: 'PUT', url: '/api/auth/profile/', payload: { first_name: ' Amina ', last_name: 'Mwangi', email: 'AMINA.JUMA@example.com' } }))
    t.equal(updated.statusCode, 200, updated.body)
    const body = updated.json()
    t.equal(body.success, true)
    t.equal(body.message, 'Profile updated successfully')
    t.type(body.position, 'number')
    t.equal(updated.headers['x-event-position'], String(body.position))
    t.same(Object.keys(body.data).sort(), [...PROFILE_FIELDS].sort())
    t.match(body.data, { first_name: 'Amina', last_name: 'Mwangi', full_name: 'Amina Mwangi', email: 'amina.juma@example.com', updated_at: '2026-03-10T10:00:00.000Z', date_joined: '2026-03-10T09:00:00.000Z' })

    const { events } = await services.store.readStream(`user-${session.userId}`)
    t.same(events.map((e) => e.type), ['userRegistered', 'userJoinedTenant', 'userProfileUpdated'])
    t.same(events[2]!.data, { userId: session.userId, email: 'amina.juma@example.com', firstName: 'Amina', lastName: 'Mwangi', at: '2026-03-10T10:00:00.000Z' })
    t.match(events[2]!.metadata, { tenantId: session.tenantId, userId: session.userId })

    const again = await app.inject(as(session, { method: 'PUT', url: '/api/auth/profile/', payload: { last_name: 'Mwangi' } }))
    t.equal(again.statusCode, 200)
    t.equal(again.json().position, body.position, 'nothing changed, nothing appended')

    const profile = await app.inject(as(session, { method: 'GET', url: '/api/auth/profile/' }))
    t.match(profile.json().data, { full_name: 'Amina Mwangi' })

    const login = await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email: 'amina.juma@example.com', password: 'correct horse battery' } })
    t.equal(claimsOf(login.json().data.access).name, 'Amina Mwangi', 'new tokens carry the new name')
  })

  t.test('PUT /auth/profile/ refusals append nothing', async (t) => {
    const before = await eventCount()
    const email = await app.inject(as(session, { method: 'PUT', url: '/api/auth/profile/', payload: { email: 'someone.else@example.com', first_name: 'X' } }))
    t.equal(email.statusCode, 400)
    t.same(email.json(), { success: false, message: 'Validation failed', errors: { email: ['The email address cannot be changed.'] } })

    const blank = await app.inject(as(session, { method: 'PUT', url: '/api/auth/profile/', payload: { first_name: '   ' } }))
    t.equal(blank.statusCode, 400)
    t.same(blank.json(), { success: false, message: 'Validation failed', errors: { first_name: ['This field may not be blank.'] } })

    const types = await app.inject(as(session, { method: 'PUT', url: '/api/auth/profile/', payload: { first_name: 42, last_name: 'x'.repeat(101) } }))
    t.equal(types.statusCode, 400)
    t.match(types.json(), { success: false, message: 'Validation failed', errors: { first_name: [String], last_name: [String] } })

    const noToken = await app.inject({ method: 'PUT', url: '/api/auth/profile/', payload: { first_name: 'X' } })
    t.equal(noToken.statusCode, 401)
    t.same(noToken.json(), { detail: 'Authentication credentials were not provided.' })
    t.equal(await eventCount(), before)
  })

  t.test('GET /auth/profile/ needs a token', async (t) => {
    for (const headers of [{}, { authorization: 'Bearer not-a-jwt' }, { authorization: `Bearer ${session.refresh}` }, { authorization: 'Basic abc' }]) {
      const response = await app.inject({ method: 'GET', url: '/api/auth/profile/', headers })
      t.equal(response.statusCode, 401, JSON.stringify(headers))
      t.same(response.json(), { detail: 'Authentication credentials were not provided.' })
    }
  })

  t.test("a tenant rename shows in the profile's tenant_name", async (t) => {
    const renamed = await app.inject(as(session, { method: 'PUT', url: `/api/tenants/${session.tenantId}/`, payload: { name: 'Acme Group' } }))
    t.equal(renamed.statusCode, 200, renamed.body)
    const profile = await app.inject(as(session, { method: 'GET', url: '/api/auth/profile/' }))
    t.equal(profile.json().data.tenant_name, 'Acme Group')
  })

  t.test('another user sees their own profile', async (t) => {
    const other = await registerUser(app, { first_name: 'Baraka', last_name: 'Otieno' })
    const profile = await app.inject(as(other, { method: 'GET', url: '/api/auth/profile/' }))
    t.match(profile.json().data, { id: other.userId, full_name: 'Baraka Otieno', tenant_id: other.tenantId })
  })
})
