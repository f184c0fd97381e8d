import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { buildApp } from '../../app.ts'
import { ProjectionEngine } from '../../projections/engine/projectionEngine.ts'
import type { Projection } from '../../projections/engine/projection.ts'
import { eventually } from '../support/eventually.ts'
import { startTestApp } from '../support/testApp.ts'
import { redisUrl } from '../support/testDatabase.ts'

/**
 * GET /health and GET /ready: 200 with every check when the service can serve; 503 naming the
 * failing check when the database, Redis or the event store does not answer, or a projection has
 * failed. Neither needs a token nor is rate limited.
 */
t.test('/health and /ready answer 200 with their checks, without a token or a rate limit', async (t) => {
  const { app } = await startTestApp(t, { label: 'ready', env: { RATE_LIMITS_ENABLED: 'true', REDIS_URL: redisUrl } })
  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'ok' })

  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200)
  const body = ready.json()
  t.equal(body.status, 'ready')
  t.match(body.checks, {
    database: { status: 'ok', duration_ms: Number },
    redis: { status: 'ok', duration_ms: Number },
    event_store: { status: 'ok', head_position: Number },
    projections: { status: 'ok', failed: [] },
  })
  t.equal(ready.headers['x-ratelimit-limit'], undefined, 'not rate limited')
  for (let i = 0; i < 120; i++) {
    const again = await app.inject({ method: 'GET', url: '/ready' })
    if (again.statusCode !== 200) t.fail(`request ${i}: ${again.statusCode}`)
  }
  t.pass('120 probes in a minute are all answered')
})

t.test('/ready without Redis configured skips that check', async (t) => {
  const { app } = await startTestApp(t, { label: 'ready_no_redis' })
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.match(ready.json().checks.redis, { status: 'skipped' })
})

t.test('/ready answers 503 when a projection has failed', async (t) => {
  const { services } = await startTestApp(t, { label: 'ready_failed' })
  // an engine of its own with a projection whose handler always throws, serving a throwaway app
  const broken: Projection = {
    kind: 'projection',
    name: 'always_fails',
    version: 1,
    eventTypes: ['readinessProbed'],
    async createTables() {},
    async handle() {
      throw new Error('this projection always fails')
    },
  }
  const engine = new ProjectionEngine({ db: services.database.db, store: services.store, pollIntervalMs: 50 }).register(broken)
  await engine.prepare()
  engine.start()
  t.teardown(() => engine.stop())
  const app = await buildApp({ ...services, engine })
  t.teardown(() => app.close())

  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200, 'ready before the failing event')
  await services.store.append([
    {
      streamName: `readiness-${randomUUID()}`,
      expectedVersion: 'no_stream',
      events: [
        {
          id: randomUUID(),
          type: 'readinessProbed',
          data: {},
          metadata: { tenantId: null, userId: null, correlationId: 'readiness-test', causationId: null, ip: null, userAgent: null, occurredAt: new Date().toISOString(), schemaVersion: 1 },
        },
      ],
    },
  ])
  await eventually(async () => engine.report()[0]!.status, (status) => status === 'failed')
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  const body = ready.json()
  t.equal(body.status, 'not_ready')
  t.match(body.checks.projections, { status: 'error', error: 'failed', failed: ['always_fails'] })
  t.match(body.checks.database, { status: 'ok' }, 'the other checks still say how they are')
  t.notOk(JSON.stringify(body).includes('always fails'), 'the error text stays in the log')

  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /^mifumo_projection_failed\{projection="always_fails"\} 1$/m, 'the metrics say so too')
})

t.test('/ready answers 503 when Redis or the database does not answer', async (t) => {
  const { services } = await startTestApp(t, { label: 'ready_down' })
  // a Redis client to a port where nothing listens
  const deadRedis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
  deadRedis.on('error', () => undefined)
  t.teardown(() => deadRedis.disconnect())
  const app = await buildApp({ ...services, redis: deadRedis })
  t.teardown(() => app.close())
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { status: 'not_ready', checks: { redis: { status: 'error', error: 'unreachable' }, database: { status: 'ok' }, event_store: { status: 'ok' } } })

  // the database closed under a running app
  await services.engine.stop()
  await services.database.close()
  const closed = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(closed.statusCode, 503)
  t.match(closed.json().checks, { database: { status: 'error' }, event_store: { status: 'error' } })
  t.notOk(closed.body.includes('127.0.0.1'), 'no connection details in the answer')
})
