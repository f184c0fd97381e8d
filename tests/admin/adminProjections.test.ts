import t from 'tap'
import { activityFeed } from '../../projections/activityFeed.ts'
import { eventually } from '../support/eventually.ts'
import { as, registerUser, startTestApp, type Session } from '../support/testApp.ts'

/**
 * The projection admin endpoints: status of every projection, a replay started over HTTP that
 * swaps new tables in while the service serves, cancel; platform administrators only.
 */
t.test('projection status and replays over HTTP', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'admin_projections' })
  const tenantAdmin = await registerUser(app)
  for (let i = 0; i < 30; i++) {
    await app.inject(as(tenantAdmin, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: `C ${i}`, phone_e164: `+2557180${String(i).padStart(5, '0')}` } }))
  }
  const operatorTokens = app.issueTokens({ userId: tenantAdmin.userId, tenantId: null, role: null, name: 'Operator', email: 'ops@example.com', platformAdmin: true })
  const operator = { headers: { authorization: `Bearer ${operatorTokens.access}` } } as Session
  const call = (who: Session | null, method: 'GET' | 'POST' | 'DELETE', url: string) => app.inject({ method, url, headers: who?.headers ?? {} })

  t.equal((await call(null, 'GET', '/api/admin/projections/')).statusCode, 401, 'no token')
  const refused = await call(tenantAdmin, 'GET', '/api/admin/projections/')
  t.equal(refused.statusCode, 403, 'a tenant admin is not a platform admin')
  t.equal(refused.json().detail, 'Only platform administrators may use this endpoint.')

  await services.engine.waitForAll(await services.store.headPosition(), 20_000)
  const listed = await call(operator, 'GET', '/api/admin/projections/')
  t.equal(listed.statusCode, 200, listed.body)
  const feed = listed.json().data.projections.find((p: { name: string }) => p.name === 'activity_feed')
  t.match(feed, { name: 'activity_feed', code_version: activityFeed.version, live_version: activityFeed.version, state: 'live', lag_events: 0, last_error: null, replay: null })
  t.ok(feed.head > 0 && feed.position > 0, 'a checkpoint and a head (the checkpoint may pass the head: it is the horizon read up to)')
  t.same(
    Object.keys(feed).sort(),
    ['code_version', 'head', 'lag_events', 'lag_seconds', 'last_error', 'live_version', 'name', 'position', 'replay', 'state'],
  )
  t.equal((await call(operator, 'GET', '/api/admin/projections/nope/')).statusCode, 404)
  t.equal((await call(operator, 'POST', '/api/admin/projections/Bad-Name/replay/')).statusCode, 400)

  const started = await call(operator, 'POST', '/api/admin/projections/activity_feed/replay/')
  t.equal(started.statusCode, 202, started.body)
  const swapped = await eventually(
    async () => (await call(operator, 'GET', '/api/admin/projections/activity_feed/')).json().data,
    (status) => status.replay?.state === 'swapped',
    30_000,
  )
  t.match(swapped.replay, { state: 'swapped', target_version: activityFeed.version, percent: 100 })
  t.equal(swapped.replay.done, swapped.replay.total)
  const recent = await app.inject(as(tenantAdmin, { method: 'GET', url: '/api/messaging/activity/recent/?limit=1' }))
  t.equal(recent.json().data.total_count, 30, 'the rebuilt feed serves the same activities')

  t.equal((await call(operator, 'DELETE', '/api/admin/projections/activity_feed/replay/')).statusCode, 409, 'nothing to cancel')
})
