import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { loadConfig } from '../../infra/config.ts'
import { startServer, type RunningServer } from '../../server.ts'
import { openSse, type SseEvent, type SseStream } from '../support/sseClient.ts'
import { TEST_JWT_SECRET } from '../support/testApp.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

/**
 * GET /api/messaging/activity/stream/ over a real HTTP server: a tenant's subscriber receives
 * the activities its commands cause, another tenant's does not; Last-Event-ID resumes; heartbeats
 * come; closing the server ends the streams; the query-string token stays out of the logs.
 */
const STREAM = '/api/messaging/activity/stream/'

interface Account {
  access: string
  tenantId: string
}

async function register(address: string, email: string, firstName: string): Promise<Account> {
  const response = await fetch(`${address}/api/auth/register/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'correct horse battery', first_name: firstName, last_name: 'Test', tenant_name: `${firstName}'s shop` }),
  })
  if (response.status !== 201) throw new Error(`registration: ${response.status} ${await response.text()}`)
  const { data } = (await response.json()) as { data: { access: string; user: { tenant_id: string } } }
  return { access: data.access, tenantId: data.user.tenant_id }
}

async function command(address: string, account: Account, path: string, body: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${address}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${account.access}` },
    body: JSON.stringify(body),
  })
  return { status: response.status, json: await response.json() }
}

const activity = (event: SseEvent) => JSON.parse(event.data) as { id: string; type: string; title: string; metadata: Record<string, unknown>; is_live: boolean; time_ago: string }

t.test('the live activity stream', async (t) => {
  const database = await createTestDatabase('activity_stream')
  t.teardown(() => database.drop())
  const lines: string[] = []
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    }),
  )
  const config = loadConfig({
    DATABASE_URL: database.url,
    JWT_SECRET: TEST_JWT_SECRET,
    PORT: '0',
    RATE_LIMITS_ENABLED: 'false',
    DELIVERY_WORKERS: 'false',
    SSE_HEARTBEAT_MS: '200',
    QUEUE_PREFIX: `test-${database.name}`,
  })
  // a fixed hour, so the two bulk imports below share one contacts_added activity
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const server: RunningServer = await startServer(config, { logger, clock })
  t.teardown(() => server.stop())
  const { address } = server
  const streams: SseStream[] = []
  t.teardown(() => streams.forEach((stream) => stream.close()))
  const open = async (query: string, headers: Record<string, string> = {}) => {
    const stream = await openSse(`${address}${STREAM}${query}`, headers)
    streams.push(stream)
    return stream
  }

  const amani = await register(address, `amani-${Date.now()}@example.com`, 'Amani')
  const baraka = await register(address, `baraka-${Date.now()}@example.com`, 'Baraka')

  await t.test('needs a token, in the Authorization header or the query string', async (t) => {
    const none = await open('')
    t.equal(none.status, 401)
    const wrong = await open('?access_token=not-a-token')
    t.equal(wrong.status, 401)
    t.same(JSON.parse(wrong.body), { detail: 'Authentication credentials were not provided.' })
  })

  // Amani with the header, Baraka with ?access_token= as a browser's EventSource would
  const amaniStream = await open('', { authorization: `Bearer ${amani.access}` })
  const barakaStream = await open(`?access_token=${encodeURIComponent(baraka.access)}`)
  t.equal(amaniStream.status, 200)
  t.match(amaniStream.headers['content-type'], /^text\/event-stream/)
  t.equal(amaniStream.headers['cache-control'], 'no-cache, no-transform')
  t.equal(barakaStream.status, 200)

  let firstId = 0
  await t.test("a command's activity reaches its tenant's subscriber, not another tenant's", async (t) => {
    const created = await command(address, amani, '/api/messaging/contacts/', { name: 'Sarah Mwangi', phone_e164: '+255712000001' })
    t.equal(created.status, 201)
    const event = await amaniStream.next((e) => e.event === 'activity')
    const item = activity(event)
    t.equal(item.type, 'contact_added')
    t.equal(item.title, 'Sarah Mwangi added to contacts')
    t.equal(item.id, `contact_${created.json.data.id}`)
    t.equal(item.time_ago, 'Just now')
    t.match(event.id, /^\d+$/, 'the id is the activity position')
    firstId = Number(event.id)
    t.ok(firstId > 0 && firstId <= created.json.position, 'the position of the event that wrote it')

    // the same item as /activity/recent/ shows
    const recent = await fetch(`${address}/api/messaging/activity/recent/?limit=1`, { headers: { authorization: `Bearer ${amani.access}` } })
    t.same(((await recent.json()) as { data: { activities: unknown[] } }).data.activities[0], item, 'data is one item of /activity/recent/')

    // Baraka's own activity reaches Baraka only
    const other = await command(address, baraka, '/api/messaging/contacts/', { name: 'Juma Otieno', phone_e164: '+255712000002' })
    t.equal(other.status, 201)
    const barakaEvent = await barakaStream.next((e) => e.event === 'activity')
    t.equal(activity(barakaEvent).title, 'Juma Otieno added to contacts')
    await sleep(500)
    t.same(
      barakaStream.events.map((e) => activity(e).title),
      ['Juma Otieno added to contacts'],
      "Baraka never receives Amani's activity",
    )
    t.same(
      amaniStream.events.map((e) => activity(e).title),
      ['Sarah Mwangi added to contacts'],
      "Amani never receives Baraka's activity",
    )
  })

  await t.test('heartbeats keep the stream open', async (t) => {
    t.equal(await amaniStream.nextComment((comment) => comment === 'heartbeat', 3000), 'heartbeat')
    t.ok(amaniStream.retries.length === 1 && amaniStream.retries[0]! > 0, 'a retry delay was sent first')
  })

  await t.test('a contacts_added group that grows is sent again with the same id and a new position', async (t) => {
    const first = await command(address, amani, '/api/messaging/contacts/bulk-import/', [
      { name: 'Imported One', phone_e164: '+255712000011' },
      { name: 'Imported Two', phone_e164: '+255712000012' },
    ])
    t.equal(first.status, 200, JSON.stringify(first.json))
    const grouped = await amaniStream.next((e) => e.event === 'activity' && activity(e).type === 'contacts_added')
    t.equal(activity(grouped).metadata.count, 2)
    const second = await command(address, amani, '/api/messaging/contacts/bulk-import/', [{ name: 'Imported Three', phone_e164: '+255712000013' }])
    t.equal(second.status, 200)
    const grown = await amaniStream.next((e) => e.event === 'activity' && activity(e).type === 'contacts_added' && activity(e).metadata.count === 3)
    t.equal(activity(grown).id, activity(grouped).id, 'the same activity')
    t.ok(Number(grown.id) > Number(grouped.id), 'at a later position')
  })

  await t.test('reconnecting with Last-Event-ID sends only what is newer, oldest first', async (t) => {
    amaniStream.close()
    await command(address, amani, '/api/messaging/contacts/', { name: 'Neema Ally', phone_e164: '+255712000021' })
    await command(address, amani, '/api/messaging/contacts/', { name: 'Zawadi Said', phone_e164: '+255712000022' })
    const resumed = await open('', { authorization: `Bearer ${amani.access}`, 'last-event-id': String(firstId) })
    await resumed.next((e) => activity(e).title === 'Zawadi Said added to contacts')
    const titles = resumed.events.map((e) => `${activity(e).type}:${activity(e).type === 'contacts_added' ? activity(e).metadata.count : activity(e).title}`)
    t.same(titles, ['contacts_added:3', 'contact_added:Neema Ally added to contacts', 'contact_added:Zawadi Said added to contacts'], 'the grown group once, then the new contacts')
    const ids = resumed.events.map((e) => Number(e.id))
    t.same(ids, [...ids].sort((a, b) => a - b), 'in position order')
    t.ok(ids.every((id) => id > firstId), 'nothing at or before Last-Event-ID')

    // ?last_event_id= does the same (the header wins when both are sent)
    const byQuery = await open(`?last_event_id=${ids[1]}`, { authorization: `Bearer ${amani.access}` })
    const only = await byQuery.next((e) => e.event === 'activity')
    t.equal(activity(only).title, 'Zawadi Said added to contacts')
    const both = await open(`?last_event_id=0`, { authorization: `Bearer ${amani.access}`, 'last-event-id': String(ids[1]) })
    t.equal(activity(await both.next((e) => e.event === 'activity')).title, 'Zawadi Said added to contacts')
    await sleep(300)
    t.equal(byQuery.events.length + both.events.length, 2, 'nothing else')

    // and a live one still arrives after the backlog
    await command(address, amani, '/api/messaging/contacts/', { name: 'Live After Resume', phone_e164: '+255712000023' })
    t.ok(await resumed.next((e) => activity(e).title === 'Live After Resume added to contacts'))

    const bad = await open('', { authorization: `Bearer ${amani.access}`, 'last-event-id': 'yesterday' })
    t.equal(bad.status, 400, 'a Last-Event-ID that is not a position is refused')
  })

  await t.test('the query-string token never reaches the log; lines carry request and correlation ids', async (t) => {
    const text = lines.join('')
    t.notOk(text.includes(baraka.access), 'the token is not in the log')
    t.ok(text.includes('access_token=[REDACTED]'), 'the logged URL has it masked')
    const requestLine = lines.map((line) => JSON.parse(line) as Record<string, any>).find((line) => line.req?.url?.startsWith(STREAM))
    t.ok(requestLine?.reqId, 'request id')
    t.ok(requestLine?.correlationId, 'correlation id')
  })

  await t.test('closing the server ends the open streams, and does not wait for them', async (t) => {
    const open = streams.filter((stream) => stream.status === 200 && !stream.ended && stream !== amaniStream)
    t.ok(open.length >= 2)
    const started = Date.now()
    await server.stop()
    t.ok(Date.now() - started < 5000, 'the shutdown did not hang on the streams')
    for (const stream of open) await stream.endedPromise(2000)
    t.ok(open.every((stream) => stream.ended), 'every stream ended')
  })
})

t.test('an HTTP process that does not run the projections hears of their commits through NOTIFY', async (t) => {
  const database = await createTestDatabase('activity_stream_notify')
  t.teardown(() => database.drop())
  const env = { DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', PORT: '0', RATE_LIMITS_ENABLED: 'false', DELIVERY_WORKERS: 'false', QUEUE_PREFIX: `test-${database.name}` }
  // the worker: runs the projections, serves nothing
  const { openServices } = await import('../../app.ts')
  const worker = await openServices(loadConfig(env))
  t.teardown(() => worker.close())
  // the web process: serves, runs no projection
  const web = await startServer(loadConfig({ ...env, RUN_PROJECTIONS: 'false' }))
  t.teardown(() => web.stop())
  t.notOk(web.services.engine.report().some((report) => report.status === 'live' || report.status === 'catching_up'), 'no projection runs in the web process')

  const account = await register(web.address, `neema-${Date.now()}@example.com`, 'Neema')
  const stream = await openSse(`${web.address}${STREAM}`, { authorization: `Bearer ${account.access}` })
  t.teardown(() => stream.close())
  t.equal(stream.status, 200)
  const created = await command(web.address, account, '/api/messaging/contacts/', { name: 'Rehema Kweka', phone_e164: '+255712000031' })
  t.equal(created.status, 201)
  const event = await stream.next((e) => e.event === 'activity')
  t.equal(activity(event).title, 'Rehema Kweka added to contacts')
})

t.test('on the embedded database the engine tells the stream itself', async (t) => {
  const server = await startServer(
    loadConfig({ DATA_DIR: 'memory://', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', PORT: '0', RATE_LIMITS_ENABLED: 'false', DELIVERY_WORKERS: 'false' }),
  )
  t.teardown(() => server.stop())
  t.equal(server.services.database.engine, 'pglite')
  const account = await register(server.address, 'embedded@example.com', 'Imani')
  const stream = await openSse(`${server.address}${STREAM}?access_token=${account.access}`)
  t.teardown(() => stream.close())
  const created = await command(server.address, account, '/api/messaging/contacts/', { name: 'Faraji Mrema', phone_e164: '+255712000041' })
  t.equal(created.status, 201)
  t.equal(activity(await stream.next((e) => e.event === 'activity')).title, 'Faraji Mrema added to contacts')
})
