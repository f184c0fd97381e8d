import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { readModel } from '../../projections/engine/projection.ts'
import { activityStatistics } from '../../projections/activityStatistics.ts'
import { performanceOverview } from '../../projections/performanceOverview.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { as, claimsOf, registerUser, startTestApp, type Session } from '../support/testApp.ts'

const TENANT_FIELDS = ['id', 'name', 'timezone', 'country', 'role', 'member_count', 'is_current', 'created_at', 'updated_at']
const UNKNOWN_TENANT = '3f8a2c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b'

t.test('tenants over HTTP', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { label: 'tenants_http', clock })
  const db = services.database.db
  const eventCount = () => committedEventCount(db)

  const admin = await registerUser(app, { email: 'david@example.com', first_name: 'David', last_name: 'Ochieng', tenant_name: 'Acme' })
  const stranger = await registerUser(app, { email: 'stranger@example.com', tenant_name: 'Stranger Ltd' })

  t.test('GET /tenants/ lists the caller’s tenants with their role', async (t) => {
    const list = await app.inject(as(admin, { method: 'GET', url: '/api/tenants/' }))
    t.equal(list.statusCode, 200, list.body)
    const body = list.json()
    t.same(Object.keys(body.data).sort(), ['count', 'next', 'previous', 'results'])
    t.match(body.data, { count: 1, next: null, previous: null })
    t.same(Object.keys(body.data.results[0]).sort(), [...TENANT_FIELDS].sort())
    t.same(body.data.results[0], {
      id: admin.tenantId,
      name: 'Acme',
      timezone: 'Africa/Dar_es_Salaam',
      country: 'TZ',
      role: 'admin',
      member_count: 1,
      is_current: true,
      created_at: '2026-03-10T09:00:00.000Z',
      updated_at: '2026-03-10T09:00:00.000Z',
    })
    const anonymous = await app.inject({ method: 'GET', url: '/api/tenants/' })
    t.equal(anonymous.statusCode, 401)
    t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })
  })

  let second = ''
  t.test('POST /tenants/ creates a tenant with the caller as admin', async (t) => {
    clock.set('2026-03-10T10:00:00Z')
    const created = await app.inject(as(admin, { method: 'POST', url: '/api/tenants/', payload: { name: '  Acme Kenya ', timezone: 'Africa/Nairobi', country: 'ke' } }))
    t.equal(created.statusCode, 201, created.body)
    const body = created.json()
    t.match(body, { success: true, message: 'Tenant created successfully', position: Number })
    t.same(Object.keys(body.data).sort(), [...TENANT_FIELDS].sort())
    t.match(body.data, { name: 'Acme Kenya', timezone: 'Africa/Nairobi', country: 'KE', role: 'admin', member_count: 1, is_current: false, created_at: '2026-03-10T10:00:00.000Z' })
    second = body.data.id

    const tenantEvents = (await services.store.readStream(`tenant-${second}`)).events
    t.same(tenantEvents.map((e) => e.type), ['tenantCreated'])
    t.match(tenantEvents[0]!.data, { tenantId: second, name: 'Acme Kenya', createdBy: { userId: admin.userId, name: 'David Ochieng' } })
    const userEvents = (await services.store.readStream(`user-${admin.userId}`)).events
    t.match(userEvents.at(-1)!, { type: 'userJoinedTenant', data: { tenantId: second, tenantName: 'Acme Kenya', role: 'admin' } })
    t.equal(userEvents.at(-1)!.position, body.position, 'one append: the membership is its last event')
    t.ok(tenantEvents[0]!.position < body.position)

    const defaults = await app.inject(as(admin, { method: 'POST', url: '/api/tenants/', payload: { name: 'Defaults' } }))
    t.match(defaults.json().data, { timezone: 'Africa/Dar_es_Salaam', country: 'TZ' })

    const list = await app.inject(as(admin, { method: 'GET', url: '/api/tenants' }))
    t.same(list.json().data.results.map((r: { name: string }) => r.name), ['Acme', 'Acme Kenya', 'Defaults'])
    t.equal(list.json().data.count, 3)
  })

  t.test('POST /tenants/ honours Idempotency-Key', async (t) => {
    const request = as(stranger, { method: 'POST', url: '/api/tenants/', headers: { 'idempotency-key': 'tenant-create-1' }, payload: { name: 'Once' } })
    const first = await app.inject(request)
    t.equal(first.statusCode, 201, first.body)
    const before = await eventCount()
    const again = await app.inject(request)
    t.equal(again.statusCode, 201)
    t.equal(again.json().data.id, first.json().data.id, 'the first answer again')
    t.equal(await eventCount(), before, 'nothing appended')
    const names = (await app.inject(as(stranger, { method: 'GET', url: '/api/tenants/' }))).json().data.results.map((r: { name: string }) => r.name)
    t.same(names, ['Stranger Ltd', 'Once'])
  })

  t.test('POST /tenants/ refusals append nothing', async (t) => {
    const before = await eventCount()
    const missing = await app.inject(as(admin, { method: 'POST', url: '/api/tenants/', payload: {} }))
    t.equal(missing.statusCode, 400)
    t.same(missing.json(), { success: false, message: 'Validation failed', errors: { name: ['This field is required.'] } })
    const bad = await app.inject(as(admin, { method: 'POST', url: '/api/tenants/', payload: { name: ' ', timezone: 'Mars/Olympus', country: 'XX' } }))
    t.equal(bad.statusCode, 400)
    t.same(bad.json(), {
      success: false,
      message: 'Validation failed',
      errors: { name: ['This field may not be blank.'], timezone: ['Unknown time zone.'], country: ['Unknown country: use an ISO 3166 code such as TZ or KE.'] },
    })
    const anonymous = await app.inject({ method: 'POST', url: '/api/tenants/', payload: { name: 'X' } })
    t.equal(anonymous.statusCode, 401)
    t.equal(await eventCount(), before)
  })

  t.test('GET /tenants/{id}/: members only', async (t) => {
    const mine = await app.inject(as(admin, { method: 'GET', url: `/api/tenants/${second}/` }))
    t.equal(mine.statusCode, 200, mine.body)
    t.same(Object.keys(mine.json().data).sort(), [...TENANT_FIELDS].sort())
    t.match(mine.json(), { success: true, data: { id: second, name: 'Acme Kenya', role: 'admin' } })

    const foreign = await app.inject(as(stranger, { method: 'GET', url: `/api/tenants/${admin.tenantId}/` }))
    t.equal(foreign.statusCode, 404)
    t.same(foreign.json(), { success: false, message: 'Tenant not found' })
    const unknown = await app.inject(as(admin, { method: 'GET', url: `/api/tenants/${UNKNOWN_TENANT}/` }))
    t.equal(unknown.statusCode, 404)
    const malformed = await app.inject(as(admin, { method: 'GET', url: '/api/tenants/not-a-uuid/' }))
    t.equal(malformed.statusCode, 400)
    t.match(malformed.json(), { success: false, message: 'Validation failed', errors: { id: [String] } })
    t.equal((await app.inject({ method: 'GET', url: `/api/tenants/${second}/` })).statusCode, 401)
  })

  t.test('PUT /tenants/{id}/', async (t) => {
    clock.set('2026-03-10T11:00:00Z')
    const updated = await app.inject(as(admin, { method: 'PUT', url: `/api/tenants/${admin.tenantId}/`, payload: { name: 'Acme Tanzania', timezone: 'Africa/Nairobi' } }))
    t.equal(updated.statusCode, 200, updated.body)
    const body = updated.json()
    t.match(body, { success: true, message: 'Tenant updated successfully', position: Number })
    t.same(Object.keys(body.data).sort(), [...TENANT_FIELDS].sort())
    t.match(body.data, { id: admin.tenantId, name: 'Acme Tanzania', timezone: 'Africa/Nairobi', country: 'TZ', updated_at: '2026-03-10T11:00:00.000Z', created_at: '2026-03-10T09:00:00.000Z' })
    const { events } = await services.store.readStream(`tenant-${admin.tenantId}`)
    t.same(events.at(-1)!.data, {
      tenantId: admin.tenantId,
      name: 'Acme Tanzania',
      timezone: 'Africa/Nairobi',
      country: 'TZ',
      changes: ['name', 'timezone'],
      updatedBy: { userId: admin.userId, name: 'David Ochieng' },
      at: '2026-03-10T11:00:00.000Z',
    })
    t.match(events.at(-1)!.metadata, { tenantId: admin.tenantId, userId: admin.userId })

    const same = await app.inject(as(admin, { method: 'PUT', url: `/api/tenants/${admin.tenantId}/`, payload: { name: 'Acme Tanzania' } }))
    t.equal(same.statusCode, 200)
    t.equal(same.json().position, body.position, 'no change, no event')

    // the zone reaches the projections that bucket by it
    await services.engine.waitFor(activityStatistics.name, body.position, 30_000)
    await services.engine.waitFor(performanceOverview.name, body.position, 30_000)
    for (const projection of [activityStatistics, performanceOverview]) {
      const row = await readModel<any>(db, projection).selectFrom('tenant_zones').selectAll().where('tenant_id', '=', admin.tenantId).executeTakeFirst()
      t.equal(row?.timezone, 'Africa/Nairobi', `${projection.name} knows the new zone`)
    }

    // back to Dar es Salaam for the tests that follow
    await app.inject(as(admin, { method: 'PUT', url: `/api/tenants/${admin.tenantId}/`, payload: { timezone: 'Africa/Dar_es_Salaam' } }))
  })

  t.test('PUT /tenants/{id}/ refusals append nothing', async (t) => {
    const before = await eventCount()
    const foreign = await app.inject(as(stranger, { method: 'PUT', url: `/api/tenants/${admin.tenantId}/`, payload: { name: 'Hijacked' } }))
    t.equal(foreign.statusCode, 404)
    t.same(foreign.json(), { success: false, message: 'Tenant not found' })
    const bad = await app.inject(as(admin, { method: 'PUT', url: `/api/tenants/${admin.tenantId}/`, payload: { timezone: 'Nowhere/Land', name: 42 } }))
    t.equal(bad.statusCode, 400)
    t.match(bad.json(), { success: false, message: 'Validation failed', errors: { name: [String] } })
    const badZone = await app.inject(as(admin, { method: 'PUT', url: `/api/tenants/${admin.tenantId}/`, payload: { timezone: 'Nowhere/Land' } }))
    t.same(badZone.json(), { success: false, message: 'Validation failed', errors: { timezone: ['Unknown time zone.'] } })
    t.equal((await app.inject({ method: 'PUT', url: `/api/tenants/${admin.tenantId}/`, payload: { name: 'X' } })).statusCode, 401)
    t.equal(await eventCount(), before)
  })

  let member: Session
  t.test('members and roles', async (t) => {
    member = await registerUser(app, { email: 'amina@example.com', first_name: 'Amina', last_name: 'Juma', tenant_name: 'Amina Co' })
    const added = await app.inject(as(admin, { method: 'POST', url: `/api/tenants/${admin.tenantId}/members/`, payload: { email: 'AMINA@example.com', role: 'user' } }))
    t.equal(added.statusCode, 201, added.body)
    t.match(added.json(), {
      success: true,
      data: { tenant_id: admin.tenantId, user_id: member.userId, email: 'amina@example.com', full_name: 'Amina Juma', role: 'user', member_count: 2 },
      position: Number,
    })
    const tenantEvents = (await services.store.readStream(`tenant-${admin.tenantId}`)).events
    t.match(tenantEvents.at(-1)!, { type: 'tenantMemberAdded', data: { userId: member.userId, role: 'user', name: 'Amina Juma', addedBy: { userId: admin.userId } } })

    const before = await eventCount()
    const duplicate = await app.inject(as(admin, { method: 'POST', url: `/api/tenants/${admin.tenantId}/members/`, payload: { email: 'amina@example.com', role: 'agent' } }))
    t.equal(duplicate.statusCode, 409)
    t.match(duplicate.json(), { success: false, error_code: 'ALREADY_MEMBER' })
    const nobody = await app.inject(as(admin, { method: 'POST', url: `/api/tenants/${admin.tenantId}/members/`, payload: { email: 'nobody@example.com', role: 'agent' } }))
    t.equal(nobody.statusCode, 400)
    t.same(nobody.json(), { success: false, message: 'Validation failed', errors: { email: ['No registered user has this email.'] } })
    const badRole = await app.inject(as(admin, { method: 'POST', url: `/api/tenants/${admin.tenantId}/members/`, payload: { email: 'amina@example.com', role: 'owner' } }))
    t.equal(badRole.statusCode, 400)
    t.match(badRole.json().errors, { role: [String] })
    const foreign = await app.inject(as(stranger, { method: 'POST', url: `/api/tenants/${admin.tenantId}/members/`, payload: { email: 'stranger@example.com', role: 'admin' } }))
    t.equal(foreign.statusCode, 404)
    t.equal(await eventCount(), before)

    // the member lists both tenants, with their own role in each
    const list = (await app.inject(as(member, { method: 'GET', url: '/api/tenants/' }))).json().data.results
    t.same(
      list.map((r: { id: string; role: string; is_current: boolean }) => [r.id, r.role, r.is_current]),
      [
        [member.tenantId, 'admin', true],
        [admin.tenantId, 'user', false],
      ],
    )

    // switching gives a token pair for the admin's tenant with the role 'user'
    const switched = await app.inject(as(member, { method: 'POST', url: '/api/tenants/switch/', payload: { tenant_id: admin.tenantId } }))
    t.equal(switched.statusCode, 200, switched.body)
    const data = switched.json().data
    t.same(Object.keys(data).sort(), ['access', 'refresh', 'tenant', 'user'])
    t.match(data.tenant, { id: admin.tenantId, role: 'user', is_current: true, member_count: 2 })
    t.match(data.user, { id: member.userId, tenant_id: admin.tenantId, tenant_name: 'Acme Tanzania', role: 'user' })
    t.match(claimsOf(data.access), { sub: member.userId, tid: admin.tenantId, role: 'user', typ: 'access' })
    const asUser = { authorization: `Bearer ${data.access}` }

    const before2 = await eventCount()
    const forbidden = await app.inject({ method: 'PUT', url: `/api/tenants/${admin.tenantId}/`, headers: asUser, payload: { name: 'Mine now' } })
    t.equal(forbidden.statusCode, 403)
    t.same(forbidden.json(), { detail: 'Only an admin of this tenant can do this.' })
    const noAdding = await app.inject({ method: 'POST', url: `/api/tenants/${admin.tenantId}/members/`, headers: asUser, payload: { email: 'stranger@example.com', role: 'admin' } })
    t.equal(noAdding.statusCode, 403)
    t.equal(await eventCount(), before2)
    // but a 'user' may read the tenant
    t.equal((await app.inject({ method: 'GET', url: `/api/tenants/${admin.tenantId}/`, headers: asUser })).statusCode, 200)

    // an agent cannot update either
    const agent = await registerUser(app, { email: 'agent@example.com', first_name: 'Kito' })
    await app.inject(as(admin, { method: 'POST', url: `/api/tenants/${admin.tenantId}/members/`, payload: { email: 'agent@example.com', role: 'agent' } }))
    const agentTokens = (await app.inject(as(agent, { method: 'POST', url: '/api/tenants/switch/', payload: { tenant_id: admin.tenantId } }))).json().data
    t.match(claimsOf(agentTokens.access), { role: 'agent' })
    const agentPut = await app.inject({ method: 'PUT', url: `/api/tenants/${admin.tenantId}/`, headers: { authorization: `Bearer ${agentTokens.access}` }, payload: { country: 'KE' } })
    t.equal(agentPut.statusCode, 403)
  })

  t.test('switch scopes tenant data to the new tenant', async (t) => {
    // the member creates a contact in their own tenant, then one in the admin's
    const own = await app.inject(as(member, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'Own contact', phone_e164: '+255700000201' } }))
    t.equal(own.statusCode, 201, own.body)
    const switched = (await app.inject(as(member, { method: 'POST', url: '/api/tenants/switch/', payload: { tenant_id: admin.tenantId } }))).json().data
    const inAcme = { authorization: `Bearer ${switched.access}` }
    const acmeContact = await app.inject({ method: 'POST', url: '/api/messaging/contacts/', headers: inAcme, payload: { name: 'Acme contact', phone_e164: '+255700000202' } })
    t.equal(acmeContact.statusCode, 201, acmeContact.body)
    const position = acmeContact.json().position

    const { events } = await services.store.readStream(`contact-${acmeContact.json().data.id}`)
    t.match(events[0]!.metadata, { tenantId: admin.tenantId, userId: member.userId })

    const listIn = async (headers: Record<string, string>) =>
      (await app.inject({ method: 'GET', url: `/api/messaging/contacts/?min_position=${position}`, headers })).json().data.results.map((c: { name: string }) => c.name)
    t.same(await listIn(inAcme), ['Acme contact'], "the switched token sees the admin tenant's contacts only")
    t.same(await listIn(member.headers), ['Own contact'], "the member's first token still sees their own tenant only")

    // the member's own contact is another tenant's id under the switched token
    const foreign = await app.inject({ method: 'POST', url: `/api/messaging/contacts/${own.json().data.id}/opt-out/`, headers: inAcme, payload: {} })
    t.equal(foreign.statusCode, 404)

    // the refresh token of the switched pair stays in the switched tenant
    const refreshed = await app.inject({ method: 'POST', url: '/api/auth/token/refresh/', payload: { refresh: switched.refresh } })
    t.match(claimsOf(refreshed.json().data.access), { tid: admin.tenantId, role: 'user' })
  })

  t.test('switch refusals', async (t) => {
    const foreign = await app.inject(as(stranger, { method: 'POST', url: '/api/tenants/switch/', payload: { tenant_id: admin.tenantId } }))
    t.equal(foreign.statusCode, 404)
    t.same(foreign.json(), { success: false, message: 'Tenant not found' })
    const unknown = await app.inject(as(stranger, { method: 'POST', url: '/api/tenants/switch/', payload: { tenant_id: UNKNOWN_TENANT } }))
    t.equal(unknown.statusCode, 404)
    const bad = await app.inject(as(stranger, { method: 'POST', url: '/api/tenants/switch/', payload: { tenant_id: 'abc' } }))
    t.equal(bad.statusCode, 400)
    t.match(bad.json(), { success: false, message: 'Validation failed', errors: { tenant_id: [String] } })
    const anonymous = await app.inject({ method: 'POST', url: '/api/tenants/switch/', payload: { tenant_id: admin.tenantId } })
    t.equal(anonymous.statusCode, 401)
  })
})
