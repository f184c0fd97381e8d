import t from 'tap'
import { sql } from 'kysely'
import { buildApp } from '../../app.ts'
import { ManualClock } from '../../infra/clock.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'
import { redisUrl } from '../support/testDatabase.ts'

t.test('rate limits: the spec numbers per user, with headers, 429 beyond, a new window a minute later', async (t) => {
  const clock = new ManualClock('2026-04-01T10:00:00Z')
  const { app } = await startTestApp(t, { clock, label: 'rate_limits', env: { RATE_LIMITS_ENABLED: 'true' } })
  const alice = await registerUser(app)
  const bob = await registerUser(app)
  const overview = (who = alice) => app.inject(as(who, { method: 'GET', url: '/api/messaging/performance/overview/' }))

  for (let i = 1; i <= 30; i++) {
    const response = await overview()
    t.equal(response.statusCode, 200)
    if (i === 1 || i === 30) {
      t.equal(response.headers['x-ratelimit-limit'], '30')
      t.equal(response.headers['x-ratelimit-remaining'], String(30 - i))
      t.equal(response.headers['x-ratelimit-reset'], String(Date.parse('2026-04-01T10:01:00Z') / 1000))
    }
  }
  const throttled = await overview()
  t.equal(throttled.statusCode, 429)
  t.equal(throttled.headers['x-ratelimit-remaining'], '0')
  t.equal(throttled.headers['retry-after'], '60')
  t.match(throttled.json(), { success: false, error_code: 'RATE_LIMITED', details: { limit: 30, window_seconds: 60 } })

  t.equal((await overview(bob)).statusCode, 200, 'another user has a budget of their own')
  const recent = await app.inject(as(alice, { method: 'GET', url: '/api/messaging/activity/recent/' }))
  t.equal(recent.statusCode, 200, 'another group (60 per minute) is counted apart')
  t.equal(recent.headers['x-ratelimit-limit'], '60')

  clock.advance(60_000)
  const nextMinute = await overview()
  t.equal(nextMinute.statusCode, 200, 'a new window a minute later')
  t.equal(nextMinute.headers['x-ratelimit-remaining'], '29')
})

t.test('rate limits live in Redis when REDIS_URL is set: two app instances share them', async (t) => {
  const clock = new ManualClock('2026-04-01T10:00:00Z')
  const { app, services } = await startTestApp(t, { clock, label: 'rate_limits_redis', env: { RATE_LIMITS_ENABLED: 'true', REDIS_URL: redisUrl } })
  t.ok(services.redis, 'the service connected to Redis')
  const second = await buildApp(services)
  t.teardown(() => second.close())
  const alice = await registerUser(app)
  const statistics = (target: typeof app) => target.inject(as(alice, { method: 'GET', url: '/api/messaging/activity/statistics/' }))
  for (let i = 0; i < 15; i++) t.equal((await statistics(app)).statusCode, 200)
  for (let i = 0; i < 15; i++) t.equal((await statistics(second)).statusCode, 200)
  const throttled = await statistics(second)
  t.equal(throttled.statusCode, 429, 'the 31st request in the minute is refused, whichever instance serves it')
})

t.test('Idempotency-Key on a create', async (t) => {
  const clock = new ManualClock('2026-04-01T10:00:00Z')
  const { app, services } = await startTestApp(t, { clock, label: 'idempotency' })
  const session = await registerUser(app)
  const other = await registerUser(app)
  const db = services.database.db
  const create = (payload: object, key: string | undefined, who = session) =>
    app.inject(as(who, { method: 'POST', url: '/api/messaging/contacts/', payload, headers: key ? { 'idempotency-key': key } : {} }))

  const first = await create({ name: 'Zawadi', phone_e164: '+255715000001' }, 'key-1')
  t.equal(first.statusCode, 201)
  const afterFirst = await committedEventCount(db)

  const replay = await create({ phone_e164: '+255715000001', name: 'Zawadi' }, 'key-1')
  t.equal(replay.statusCode, 201, 'the same key and body (in any key order) answer the first answer again')
  t.equal(replay.body, first.body)
  t.equal(replay.headers['idempotent-replayed'], 'true')
  t.equal(await committedEventCount(db), afterFirst, 'and append nothing')

  const reused = await create({ name: 'Somebody else', phone_e164: '+255715000002' }, 'key-1')
  t.equal(reused.statusCode, 422)
  t.match(reused.json(), { success: false, error_code: 'IDEMPOTENCY_KEY_REUSED' })
  t.equal(await committedEventCount(db), afterFirst, 'a refused key appends nothing')

  const othersKey = await create({ name: 'Other tenant', phone_e164: '+255715000001' }, 'key-1', other)
  t.equal(othersKey.statusCode, 201, 'keys belong to their caller')

  const badKey = await create({ name: 'X', phone_e164: '+255715000003' }, 'bad key with spaces')
  t.equal(badKey.statusCode, 400)

  // concurrent repeats of one request: exactly one runs
  const before = await committedEventCount(db)
  const burst = await Promise.all(Array.from({ length: 6 }, () => create({ name: 'Burst', phone_e164: '+255715000009' }, 'key-burst')))
  const statuses = burst.map((r) => r.statusCode).sort()
  t.ok(statuses.every((s) => s === 201 || s === 409), `only created or in-progress answers: ${statuses.join(',')}`)
  t.ok(statuses.includes(201))
  const created = (await sql<{ n: number }>`select count(*)::int as n from es_events where event_type = 'contactCreated' and data->'profile'->>'name' = 'Burst'`.execute(db)).rows[0]!.n
  t.equal(created, 1, 'one contact created')
  t.ok((await committedEventCount(db)) - before >= 2, 'the contact and its key claim were appended once')

  // after 24 hours the key is free again
  clock.advance(24 * 60 * 60 * 1000 + 1000)
  const later = await create({ name: 'Zawadi', phone_e164: '+255715000001' }, 'key-1')
  t.equal(later.statusCode, 200, 'runs again: this time an upsert of the existing contact')
  t.equal(later.headers['idempotent-replayed'], undefined)
})
