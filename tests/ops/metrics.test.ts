import type { FastifyInstance } from 'fastify'
import { Counter, Histogram, Registry } from 'prom-client'
import t from 'tap'
import { HttpAnswerMetrics } from '../../infra/ops/metrics.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

/**
 * GET /metrics: Prometheus text whose counters move with requests, commands and appends, with a
 * lag gauge per projection and a depth gauge per queue; protected by METRICS_TOKEN when set.
 */

/** `name{labels} value` lines → value, by the line's name and labels as written. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    values.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return values
}

async function scrape(app: FastifyInstance, headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const response = await app.inject({ method: 'GET', url: '/metrics', headers })
  if (response.statusCode !== 200) throw new Error(`/metrics: ${response.statusCode} ${response.body}`)
  return samples(response.body)
}

const PROJECTIONS = ['contact_directory', 'message_history', 'activity_feed', 'activity_statistics', 'performance_overview', 'template_catalog', 'conversation_inbox', 'analytics_overview', 'billing_usage', 'campaign_board', 'segment_catalog']

t.test('counters move with requests, commands and appends; lag and queue gauges are there', async (t) => {
  const { app } = await startTestApp(t, { label: 'metrics', env: { RATE_LIMITS_ENABLED: 'true' } })
  const first = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(first.statusCode, 200)
  t.match(first.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.equal(first.headers['x-ratelimit-limit'], undefined, 'not rate limited')
  t.match(first.body, /# TYPE mifumo_http_requests_total counter/)
  t.match(first.body, /# TYPE mifumo_command_duration_seconds histogram/)
  t.match(first.body, /^process_cpu_user_seconds_total /m, 'process metrics')
  const before = samples(first.body)

  const session = await registerUser(app)
  const created = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'Asha Juma', phone_e164: '+255712300001' } }))
  t.equal(created.statusCode, 201)
  const contactId = created.json().data.id
  const read = await app.inject(as(session, { method: 'GET', url: `/api/messaging/contacts/${contactId}/?min_position=${created.json().position}` }))
  t.equal(read.statusCode, 200)
  const missing = await app.inject(as(session, { method: 'GET', url: '/api/messaging/contacts/00000000-0000-4000-8000-000000000000/' }))
  t.equal(missing.statusCode, 404)

  const after = await scrape(app)
  const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0)
  t.equal(delta('mifumo_http_requests_total{method="POST",route="/api/messaging/contacts/",status="201"}'), 1, 'the command is counted by route and status')
  t.equal(delta('mifumo_http_requests_total{method="GET",route="/api/messaging/contacts/:id/",status="200"}'), 1, 'by route pattern, not URL')
  t.equal(delta('mifumo_http_requests_total{method="GET",route="/api/messaging/contacts/:id/",status="404"}'), 1)
  t.equal(delta('mifumo_http_requests_total{method="GET",route="/metrics",status="200"}'), 1, 'the first scrape')
  t.equal(delta('mifumo_command_duration_seconds_count{method="POST",route="/api/messaging/contacts/",status="201"}'), 1, 'command latency observed')
  t.ok((after.get('mifumo_command_duration_seconds_sum{method="POST",route="/api/messaging/contacts/",status="201"}') ?? 0) > 0)
  t.equal(delta('mifumo_command_duration_seconds_count{method="GET",route="/api/messaging/contacts/:id/",status="200"}'), 0, 'queries are not commands')
  t.ok(delta('mifumo_http_request_duration_seconds_count{method="GET",route="/api/messaging/contacts/:id/",status="200"}') === 1, 'every request is timed')
  t.ok(delta('mifumo_events_appended_total{type="contactCreated"}') >= 1, 'the contact event is counted by type')
  t.ok(delta('mifumo_events_appended_total{type="userRegistered"}') >= 1, 'so are the registration events')
  t.ok(delta('mifumo_event_appends_total{outcome="appended"}') >= 2, 'append calls are counted')

  const head = after.get('mifumo_event_store_head_position') ?? 0
  t.ok(head >= created.json().position, 'the head of the log')
  for (const projection of PROJECTIONS) {
    for (const gauge of ['checkpoint_position', 'lag_positions', 'lag_events', 'lag_seconds']) {
      t.ok(after.has(`mifumo_projection_${gauge}{projection="${projection}"}`), `${gauge} of ${projection}`)
    }
    t.equal(after.get(`mifumo_projection_failed{projection="${projection}"}`), 0)
  }
  t.equal(after.get('mifumo_projection_lag_events{projection="contact_directory"}'), 0, 'the contact read model has caught up (the read waited for it)')
  t.ok((after.get('mifumo_projection_checkpoint_position{projection="contact_directory"}') ?? 0) >= created.json().position)
  for (const queue of ['send', 'campaign-start', 'campaign-timeout']) {
    for (const state of ['waiting', 'active', 'delayed', 'failed']) t.ok(after.has(`mifumo_queue_jobs{queue="${queue}",state="${state}"}`), `${queue} ${state}`)
  }
  t.equal(after.get('mifumo_activity_streams'), 0)
})

t.test('lag gauges show a projection that has not caught up', async (t) => {
  // no projection runs in this process: whatever is appended stays unhandled
  const { app, services } = await startTestApp(t, { label: 'metrics_lag', env: { RUN_PROJECTIONS: 'false' } })
  const session = await registerUser(app)
  const created = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'Baraka Ali', phone_e164: '+255712300002' } }))
  t.equal(created.statusCode, 201)
  const metrics = await scrape(app)
  t.ok((metrics.get('mifumo_projection_lag_events{projection="contact_directory"}') ?? 0) >= 1, 'events behind')
  t.ok((metrics.get('mifumo_projection_lag_positions{projection="contact_directory"}') ?? 0) > 0, 'positions behind')
  t.ok((metrics.get('mifumo_projection_lag_seconds{projection="contact_directory"}') ?? -1) >= 0, 'seconds behind')
  t.equal(metrics.get('mifumo_projection_checkpoint_position{projection="contact_directory"}'), 0)
  t.equal(metrics.get('mifumo_event_store_head_position'), await services.store.headPosition())
})

t.test('METRICS_TOKEN protects /metrics', async (t) => {
  const token = 'metrics-token-for-the-tests-0123456789'
  const { app } = await startTestApp(t, { label: 'metrics_token', env: { METRICS_TOKEN: token } })
  const anonymous = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })
  t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong-token-wrong-token' } })).statusCode, 401)
  const session = await registerUser(app)
  t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: session.headers })).statusCode, 401, "a user's token is not the metrics token")
  const scraped = await scrape(app, { authorization: `Bearer ${token}` })
  t.ok(scraped.has('mifumo_event_store_head_position'))
})

t.test("the HTTP metrics' text is what prom-client's Counter and Histograms write for the same answers", async (t) => {
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
  const labelNames = ['method', 'route', 'status'] as const
  const reference = new Registry()
  const registers = [reference]
  const requests = new Counter({ name: 'mifumo_http_requests_total', help: 'HTTP requests answered, by method, route pattern and status', labelNames, registers })
  const durations = new Histogram({ name: 'mifumo_http_request_duration_seconds', help: 'Time to answer an HTTP request (event streams excluded), by method, route pattern and status', labelNames, buckets, registers })
  const commands = new Histogram({ name: 'mifumo_command_duration_seconds', help: 'Time to answer a command (POST, PUT, PATCH, DELETE), by method, route pattern and status', labelNames, buckets, registers })
  const registry = new Registry()
  const http = new HttpAnswerMetrics(registry)
  const answers: Array<[method: string, route: string, status: number, seconds: number | null]> = [
    ['GET', '/api/messaging/contacts/:id/', 200, 0.003],
    ['GET', '/api/messaging/contacts/:id/', 200, 0.2],
    ['POST', '/api/messaging/contacts/', 201, 0.01],
    ['POST', '/api/messaging/contacts/', 201, 0.0051],
    ['GET', '/api/messaging/activity/stream/', 200, null],
    ['GET', 'unmatched', 404, 45],
    ['DELETE', '/a/"quoted"\\path/', 204, 0.005],
  ]
  for (const [method, route, status, seconds] of answers) {
    const labels = { method, route, status: String(status) }
    requests.inc(labels)
    if (seconds !== null) {
      durations.observe(labels, seconds)
      if (method !== 'GET') commands.observe(labels, seconds)
    }
    http.answered(http.series(route, method, status), seconds)
  }
  t.equal(await registry.metrics(), await reference.metrics())
})
