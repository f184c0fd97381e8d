import Fastify from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import t from 'tap'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { authentication } from '../../infra/http/authentication.ts'
import { errorHandling } from '../../infra/http/errorHandler.ts'
import { validatorCompiler } from '../../infra/http/validation.ts'
import { adminStreamRoutes } from '../../queries/adminStreamRoutes.ts'
import { setPlatformAdmin } from '../../infra/auth/credentialStore.ts'
import { ManualClock } from '../../infra/clock.ts'
import { eventually } from '../support/eventually.ts'
import { as, claimsOf, registerUser, startTestApp, TEST_JWT_SECRET, type Session } from '../support/testApp.ts'

/**
 * Stream inspection over HTTP: only platform administrators (the flag on their credentials, put
 * in their tokens at sign-in) see the event log; tenant admins get 403, anonymous callers 401.
 */

/** Waits until readers of the global log see the event at `position` (older transactions anywhere on the server hold it back). */
async function readable(store: EventStore, position: number): Promise<void> {
  await eventually(
    () => store.readAll({ after: position - 1, limit: 1 }),
    (slice) => slice.scannedTo >= position,
    30_000,
  )
}

t.test('stream inspection endpoints', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { clock, label: 'admin_streams' })
  const { store } = services

  const opsEmail = `ops-${Date.now()}@example.com`
  const registeredOps = await registerUser(app, { email: opsEmail, first_name: 'Operations', last_name: 'Desk' })
  t.notOk(claimsOf(registeredOps.access).padm, 'a new user is no platform administrator')
  t.match(await setPlatformAdmin(services.database.db, opsEmail.toUpperCase(), true), { userId: registeredOps.userId, changed: true })
  t.match(await setPlatformAdmin(services.database.db, opsEmail, true), { changed: false }, 'granting twice changes nothing')
  t.equal(await setPlatformAdmin(services.database.db, 'nobody@example.com', true), null)

  const login = await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email: opsEmail, password: 'correct horse battery' } })
  t.equal(login.statusCode, 200, login.body)
  const opsTokens = login.json().data
  t.equal(claimsOf(opsTokens.access).padm, true, 'the login token carries padm')
  const ops: Session = { ...registeredOps, access: opsTokens.access, refresh: opsTokens.refresh, headers: { authorization: `Bearer ${opsTokens.access}` } }

  const alice = await registerUser(app, { first_name: 'Alice', last_name: 'Wanjiru' })
  const bob = await registerUser(app, { first_name: 'Bob', last_name: 'Otieno' })
  t.equal(claimsOf(alice.access).role, 'admin', 'alice is the admin of her tenant')

  let last = 0
  const command = async (session: Session, method: 'POST' | 'PUT', url: string, payload?: object, headers: Record<string, string> = {}) => {
    const response = await app.inject(as(session, { method, url, ...(payload ? { payload } : {}), headers }))
    if (response.statusCode >= 300) throw new Error(`${url}: ${response.statusCode} ${response.body}`)
    last = Math.max(last, response.json().position ?? 0)
    return response.json()
  }

  // alice's contact at 09:00, with a history of opt-ins and opt-outs; another at 10:00; bob's at 11:00
  const first = (
    await command(alice, 'POST', '/api/messaging/contacts/', { name: 'Amina Juma', phone_e164: '+255712000001' }, {
      'user-agent': 'dashboard/2.1',
      'x-correlation-id': 'corr-first-contact',
    })
  ).data.id as string
  for (let i = 0; i < 3; i++) {
    await command(alice, 'POST', `/api/messaging/contacts/${first}/opt-in/`)
    await command(alice, 'POST', `/api/messaging/contacts/${first}/opt-out/`, { reason: `round ${i}` })
  }
  clock.set('2026-03-10T10:00:00Z')
  const second = (await command(alice, 'POST', '/api/messaging/contacts/', { name: 'Baraka', phone_e164: '+255712000002' })).data.id as string
  clock.set('2026-03-10T11:00:00Z')
  const third = (await command(bob, 'POST', '/api/messaging/contacts/', { name: 'Chausiku', phone_e164: '+255712000003' })).data.id as string
  await readable(store, last)

  const get = (session: Session | null, url: string) => app.inject({ method: 'GET', url, ...(session ? { headers: session.headers } : {}) })
  const ok = async (url: string) => {
    const response = await get(ops, url)
    if (response.statusCode !== 200) t.fail(`${url}: ${response.statusCode} ${response.body}`)
    return response.json().data
  }

  t.test('categories with stream and event counts', async (t) => {
    const data = await ok('/api/admin/streams/categories/')
    const contact = data.results.find((row: { category: string }) => row.category === 'contact')
    t.same(contact, { category: 'contact', streams: 3, events: 1 + 6 + 1 + 1 })
    t.ok(data.results.some((row: { category: string }) => row.category === 'user'))
    t.ok(data.results.some((row: { category: string }) => row.category === 'tenant'))
    t.equal(data.count, data.results.length)
    t.same(
      data.results.map((row: { category: string }) => row.category),
      [...data.results.map((row: { category: string }) => row.category)].sort(),
      'in name order',
    )
  })

  t.test('streams of a category, with paging', async (t) => {
    const data = await ok('/api/admin/streams/?category=contact')
    t.equal(data.count, 3)
    t.same(data.results.map((row: { stream: string }) => row.stream).sort(), [`contact-${first}`, `contact-${second}`, `contact-${third}`].sort())
    const history = data.results.find((row: { stream: string }) => row.stream === `contact-${first}`)
    t.match(history, { category: 'contact', version: 6, event_count: 7 })
    t.type(history.last_position, 'number')
    t.ok(Number.isFinite(Date.parse(history.last_recorded_at)))

    const page1 = await ok('/api/admin/streams/?category=contact&page_size=2')
    t.equal(page1.results.length, 2)
    t.match(page1.next, /page=2/)
    t.equal(page1.previous, null)
    const page2 = await ok('/api/admin/streams/?category=contact&page_size=2&page=2')
    t.equal(page2.results.length, 1)
    t.equal(page2.next, null)
    t.same([...page1.results, ...page2.results].map((row: { stream: string }) => row.stream), data.results.map((row: { stream: string }) => row.stream))

    const all = await ok('/api/admin/streams/?page_size=100')
    t.ok(all.count > 3, 'without a category: every stream')
  })

  t.test('one stream forward and backward, with cursors', async (t) => {
    const url = `/api/admin/streams/contact-${first}/events/`
    const forward = await ok(`${url}?limit=3`)
    t.match(forward, { stream: `contact-${first}`, category: 'contact', version: 6, event_count: 7, direction: 'forward', next_from_version: 3, previous_from_version: null })
    t.same(forward.results.map((event: { version: number }) => event.version), [0, 1, 2])
    t.same(forward.results.map((event: { type: string }) => event.type), ['contactCreated', 'contactOptedIn', 'contactOptedOut'])

    const middle = await ok(`${url}?limit=3&from_version=3`)
    t.same(middle.results.map((event: { version: number }) => event.version), [3, 4, 5])
    t.equal(middle.next_from_version, 6)
    t.equal(middle.previous_from_version, 0)
    const end = await ok(`${url}?limit=3&from_version=6`)
    t.same(end.results.map((event: { version: number }) => event.version), [6])
    t.equal(end.next_from_version, null)

    const backward = await ok(`${url}?direction=backward&limit=4`)
    t.same(backward.results.map((event: { version: number }) => event.version), [6, 5, 4, 3])
    t.equal(backward.next_from_version, 2)
    t.equal(backward.previous_from_version, null)
    const older = await ok(`${url}?direction=backward&limit=4&from_version=2`)
    t.same(older.results.map((event: { version: number }) => event.version), [2, 1, 0])
    t.equal(older.next_from_version, null)
    t.equal(older.previous_from_version, 6)

    const unknown = await get(ops, '/api/admin/streams/contact-00000000-0000-4000-8000-000000000000/events/')
    t.equal(unknown.statusCode, 404)
    t.same(unknown.json(), { success: false, message: 'Stream not found' })
  })

  t.test('the global log with filters and paging', async (t) => {
    const created = await ok('/api/admin/events/?type=contactCreated&limit=1000')
    t.same(created.results.map((event: { stream: string }) => event.stream), [`contact-${first}`, `contact-${second}`, `contact-${third}`], 'in position order')
    t.ok(created.results.every((event: { type: string }) => event.type === 'contactCreated'))
    t.equal(created.has_more, false)

    const twoTypes = await ok('/api/admin/events/?type=contactOptedIn&type=contactOptedOut&limit=1000')
    t.equal(twoTypes.results.length, 6, 'a repeated type is any of them')

    const byCategory = await ok('/api/admin/events/?category=contact&limit=1000')
    t.equal(byCategory.results.length, 9)
    t.ok(byCategory.results.every((event: { category: string }) => event.category === 'contact'))
    const twoCategories = await ok('/api/admin/events/?category=contact&category=tenant&limit=1000')
    t.ok(twoCategories.results.some((event: { category: string }) => event.category === 'tenant'))
    t.ok(twoCategories.results.every((event: { category: string }) => ['contact', 'tenant'].includes(event.category)))

    const bobs = await ok(`/api/admin/events/?tenant_id=${bob.tenantId}&limit=1000`)
    t.ok(bobs.results.length > 0)
    t.ok(bobs.results.every((event: { tenant_id: string }) => event.tenant_id === bob.tenantId), "only bob's tenant")
    t.ok(bobs.results.some((event: { stream: string }) => event.stream === `contact-${third}`))
    t.notOk(bobs.results.some((event: { stream: string }) => event.stream === `contact-${first}`))

    // occurred_at: 09:00 for everything before the clock moved, 10:00 for the second contact, 11:00 for bob's
    const tenOClock = await ok('/api/admin/events/?category=contact&from=2026-03-10T10:00:00Z&to=2026-03-10T11:00:00Z')
    t.same(tenOClock.results.map((event: { stream: string }) => event.stream), [`contact-${second}`])
    const fromTen = await ok('/api/admin/events/?category=contact&from=2026-03-10T10:00:00Z')
    t.same(fromTen.results.map((event: { stream: string }) => event.stream), [`contact-${second}`, `contact-${third}`])
    const beforeTen = await ok('/api/admin/events/?category=contact&to=2026-03-10T10:00:00%2B00:00')
    t.equal(beforeTen.results.length, 7)
    const recordedNow = await ok(`/api/admin/events/?category=contact&time_field=recorded_at&from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`)
    t.equal(recordedNow.results.length, 9, 'recorded_at is the real time of the append')

    // paging with next_after: the same events, no overlap
    const seen: string[] = []
    let after = 0
    for (let pages = 0; pages < 20; pages++) {
      const page = await ok(`/api/admin/events/?category=contact&limit=2&after=${after}`)
      seen.push(...page.results.map((event: { id: string }) => event.id))
      t.ok(page.next_after >= after)
      after = page.next_after
      if (!page.has_more) break
    }
    t.same(seen, byCategory.results.map((event: { id: string }) => event.id))
    const rest = await ok(`/api/admin/events/?category=contact&after=${after}`)
    t.same(rest.results, [], 'nothing after the last page')
  })

  t.test('one event with its metadata', async (t) => {
    const [event] = (await ok(`/api/admin/streams/contact-${first}/events/?limit=1`)).results
    const data = await ok(`/api/admin/events/${event.id}/`)
    t.same(Object.keys(data).sort(), [
      'category', 'causation_id', 'correlation_id', 'data', 'id', 'ip', 'occurred_at', 'position', 'recorded_at', 'schema_version',
      'stream', 'tenant_id', 'type', 'user_agent', 'user_email', 'user_id', 'user_name', 'version',
    ])
    t.match(data, {
      id: event.id,
      type: 'contactCreated',
      stream: `contact-${first}`,
      category: 'contact',
      version: 0,
      position: event.position,
      tenant_id: alice.tenantId,
      user_id: alice.userId,
      user_name: 'Alice Wanjiru',
      user_email: /@example\.com$/,
      ip: '127.0.0.1',
      user_agent: 'dashboard/2.1',
      correlation_id: 'corr-first-contact',
      causation_id: null,
      occurred_at: '2026-03-10T09:00:00.000Z',
      schema_version: 1,
      data: { contactId: first, profile: { name: 'Amina Juma' } },
    })
    t.ok(Number.isFinite(Date.parse(data.recorded_at)))
    t.same(event, data, 'the same shape in every view')

    const missing = await get(ops, '/api/admin/events/00000000-0000-4000-8000-000000000000/')
    t.equal(missing.statusCode, 404)
    t.same(missing.json(), { success: false, message: 'Event not found' })
  })

  t.test('bad parameters are a 400', async (t) => {
    const cases: [string, string][] = [
      ['/api/admin/events/not-a-uuid/', 'event_id'],
      ['/api/admin/events/?after=-1', 'after'],
      ['/api/admin/events/?limit=0', 'limit'],
      ['/api/admin/events/?limit=5000', 'limit'],
      ['/api/admin/events/?tenant_id=acme', 'tenant_id'],
      ['/api/admin/events/?from=yesterday', 'from'],
      ['/api/admin/events/?from=2026-03-10T11:00:00Z&to=2026-03-10T10:00:00Z', 'to'],
      ['/api/admin/events/?time_field=whenever', 'time_field'],
      ['/api/admin/events/?category=contact-x', 'category.0'],
      [`/api/admin/streams/contact-${first}/events/?direction=sideways`, 'direction'],
      [`/api/admin/streams/contact-${first}/events/?from_version=-2`, 'from_version'],
      ['/api/admin/streams/?page=0', 'page'],
      ['/api/admin/streams/?page_size=101', 'page_size'],
    ]
    for (const [url, field] of cases) {
      const response = await get(ops, url)
      t.equal(response.statusCode, 400, url)
      t.ok(response.json().message === 'Validation failed' && response.json().errors[field], `${url} names ${field}`)
    }
  })

  t.test('only platform administrators', async (t) => {
    const urls = [
      '/api/admin/streams/categories/',
      '/api/admin/streams/?category=contact',
      `/api/admin/streams/contact-${first}/events/`,
      '/api/admin/events/',
      `/api/admin/events/?tenant_id=${alice.tenantId}`,
      `/api/admin/events/${(await ok('/api/admin/events/?limit=1')).results[0].id}/`,
    ]
    const key = await app.inject(as(ops, { method: 'POST', url: '/api/auth/api-key/generate/', payload: { name: 'ops script' } }))
    t.equal(key.statusCode, 201, key.body)
    const apiKey = key.json().data.key as string
    for (const url of urls) {
      const tenantAdmin = await get(alice, url)
      t.equal(tenantAdmin.statusCode, 403, `a tenant admin: ${url}`)
      t.notMatch(tenantAdmin.body, /contact-|"results"/, 'and sees no events')
      const anonymous = await get(null, url)
      t.equal(anonymous.statusCode, 401, `no token: ${url}`)
      t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })
      const withKey = await app.inject({ method: 'GET', url, headers: { 'x-api-key': apiKey } })
      t.equal(withKey.statusCode, 403, `an API key of a platform administrator: ${url}`)
    }
    // authentication comes before the parameters: nobody learns anything without a valid admin token
    t.equal((await get(null, '/api/admin/events/?limit=0')).statusCode, 401)
    t.equal((await get(alice, '/api/admin/events/?limit=0')).statusCode, 403)
  })

  t.test('tenant switch and refresh keep the flag while granted; a revoked operator loses it', async (t) => {
    const tenant = await command(ops, 'POST', '/api/tenants/', { name: 'Second workspace' })
    const switched = await app.inject(as(ops, { method: 'POST', url: '/api/tenants/switch/', payload: { tenant_id: tenant.data.id } }))
    t.equal(switched.statusCode, 200, switched.body)
    t.equal(claimsOf(switched.json().data.access).padm, true, 'a tenant switch keeps padm')
    const refreshed = await app.inject({ method: 'POST', url: '/api/auth/token/refresh/', payload: { refresh: ops.refresh } })
    t.equal(refreshed.statusCode, 200)
    t.equal(claimsOf(refreshed.json().data.access).padm, true, 'a refresh keeps padm')
    t.equal(claimsOf(alice.access).padm, undefined, 'a tenant admin has no padm claim')

    t.match(await setPlatformAdmin(services.database.db, opsEmail, false), { changed: true })
    const afterRevoke = await app.inject({ method: 'POST', url: '/api/auth/token/refresh/', payload: { refresh: refreshed.json().data.refresh } })
    t.equal(afterRevoke.statusCode, 200)
    t.equal(claimsOf(afterRevoke.json().data.access).padm, undefined, 'the next refresh drops padm')
    const refused = await app.inject({ method: 'GET', url: '/api/admin/streams/categories/', headers: { authorization: `Bearer ${afterRevoke.json().data.access}` } })
    t.equal(refused.statusCode, 403, 'and the admin endpoints with it')
    const relogin = await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email: opsEmail, password: 'correct horse battery' } })
    t.equal(claimsOf(relogin.json().data.access).padm, undefined, 'so does a new sign-in')
    const tenantRoute = await get(ops, '/api/messaging/contacts/')
    t.equal(tenantRoute.statusCode, 200, 'the user keeps their tenant access')
  })
})

t.test('a store without the inspection queries answers 501 for them', async (t) => {
  const { services } = await startTestApp(t, { label: 'admin_streams_501' })
  // the store as the KurrentDB adapter offers it: the port's required methods only
  const hidden = new Set(['listCategories', 'listStreams', 'readEvent', 'readLog'])
  const store = new Proxy(services.store, {
    get: (target, property) => (hidden.has(String(property)) ? undefined : Reflect.get(target, property, target)),
  })
  const app = Fastify().withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  await app.register(errorHandling)
  await app.register(authentication, { secret: TEST_JWT_SECRET, accessTtlSeconds: 60, refreshTtlSeconds: 60 })
  await app.register(adminStreamRoutes, { store, describeUsers: async () => new Map() })
  await app.ready()
  t.teardown(() => app.close())
  const { access } = app.issueTokens({ userId: '7b0e0a43-27a4-4b8f-9f8e-3f6b1d2c9a51', tenantId: null, role: null, name: 'Ops', email: 'ops@example.com', platformAdmin: true })
  const get = (url: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${access}` } })

  for (const url of ['/api/admin/streams/categories/', '/api/admin/streams/', '/api/admin/events/7b0e0a43-27a4-4b8f-9f8e-3f6b1d2c9a51/', '/api/admin/events/?from=2026-03-10T10:00:00Z']) {
    const response = await get(url)
    t.equal(response.statusCode, 501, url)
    t.match(response.json(), { success: false, message: /does not offer/ }, url)
  }
  // what every adapter can do still works: a stream, and the log without time bounds
  t.equal((await get('/api/admin/events/?limit=5')).statusCode, 200)
  t.equal((await get('/api/admin/streams/contact-7b0e0a43-27a4-4b8f-9f8e-3f6b1d2c9a51/events/')).statusCode, 404)
})
