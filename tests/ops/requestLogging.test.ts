import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { buildApp, openServices } from '../../app.ts'
import { loadConfig } from '../../infra/config.ts'
import { childLoggerFactory, maskUrl } from '../../infra/http/requestLogging.ts'
import { TEST_JWT_SECRET } from '../support/testApp.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

/**
 * Request logs carry the request id and the correlation id the request's events carry, so a log
 * line and its events can be matched; credentials never appear in them.
 */
t.test('log lines carry reqId and the correlationId of the events; no credentials', async (t) => {
  const database = await createTestDatabase('request_logging')
  t.teardown(() => database.drop())
  const lines: Record<string, any>[] = []
  const raw: string[] = []
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _encoding, done) {
        raw.push(String(chunk))
        lines.push(JSON.parse(String(chunk)))
        done()
      },
    }),
  )
  const services = await openServices(loadConfig({ DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET, RATE_LIMITS_ENABLED: 'false', DELIVERY_WORKERS: 'false' }), { logger })
  const app = await buildApp(services)
  t.teardown(async () => {
    await app.close()
    await services.close()
  })

  const registered = await app.inject({
    method: 'POST',
    url: '/api/auth/register/',
    payload: { email: 'logs@example.com', password: 'correct horse battery', first_name: 'Log', last_name: 'Reader' },
  })
  t.equal(registered.statusCode, 201)
  const access: string = registered.json().data.access

  // with X-Correlation-Id: the log lines and the events carry it
  const created = await app.inject({
    method: 'POST',
    url: '/api/messaging/contacts/',
    headers: { authorization: `Bearer ${access}`, 'x-correlation-id': 'import-batch-42', 'x-request-id': 'req-contact-1' },
    payload: { name: 'Halima Said', phone_e164: '+255712400001' },
  })
  t.equal(created.statusCode, 201)
  const requestLines = lines.filter((line) => line.reqId === 'req-contact-1')
  t.ok(requestLines.length >= 2, 'incoming and completed lines')
  t.ok(requestLines.every((line) => line.correlationId === 'import-batch-42'), 'every line of the request has the correlation id')
  const stream = await services.store.readStream(`contact-${created.json().data.id}`)
  t.equal(stream.events[0]?.metadata.correlationId, 'import-batch-42', 'so do its events')

  // without it: the request id is the correlation id, in the log and in the events
  const second = await app.inject({
    method: 'POST',
    url: '/api/messaging/contacts/',
    headers: { authorization: `Bearer ${access}`, 'x-request-id': 'req-contact-2' },
    payload: { name: 'Omari Said', phone_e164: '+255712400002' },
  })
  t.equal(second.statusCode, 201)
  t.ok(lines.filter((line) => line.reqId === 'req-contact-2').every((line) => line.correlationId === 'req-contact-2'))
  const secondStream = await services.store.readStream(`contact-${second.json().data.id}`)
  t.equal(secondStream.events[0]?.metadata.correlationId, 'req-contact-2')

  // a token in the query string is masked; tokens and passwords never appear
  await app.inject({ method: 'GET', url: `/api/messaging/activity/recent/?access_token=${access}&limit=5` })
  const text = raw.join('')
  t.notOk(text.includes(access), 'no access token in the log')
  t.notOk(text.includes('correct horse battery'), 'no password in the log')
  t.ok(text.includes('access_token=[REDACTED]&limit=5'), 'the URL is logged with the token masked')
})

t.test('maskUrl masks the values of credential parameters only', async (t) => {
  t.equal(maskUrl('/a/?access_token=abc.def&limit=5'), '/a/?access_token=[REDACTED]&limit=5')
  t.equal(maskUrl('/a/?limit=5&api_key=mk_1&x=1'), '/a/?limit=5&api_key=[REDACTED]&x=1')
  t.equal(maskUrl('/a/?search=token'), '/a/?search=token')
  t.equal(maskUrl('/a/'), '/a/')
})

t.test("a request's logger: its child is made at its first line, with the same bindings and lines as pino's own child", async (t) => {
  const lines: string[] = []
  const parent = pino(
    { level: 'warn', base: null, timestamp: false },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    }),
  )
  const rawRequest = { headers: { 'x-correlation-id': 'batch-7' } }
  const log = childLoggerFactory.call(null as never, parent, { reqId: 'req-9' }, {}, rawRequest as never)
  t.equal(log.level, 'warn', "the parent's level")
  log.info({ step: 1 }, 'below the level')
  log.debug('below the level')
  t.same(lines, [], 'nothing written below the level')
  log.warn({ step: 2 }, 'slow answer')
  log.error(new Error('boom'), 'failed')
  const expected: string[] = []
  const direct = pino(
    { level: 'warn', base: null, timestamp: false },
    new Writable({
      write(chunk, _encoding, done) {
        expected.push(String(chunk))
        done()
      },
    }),
  ).child({ reqId: 'req-9', correlationId: 'batch-7' })
  direct.warn({ step: 2 }, 'slow answer')
  t.same(lines.slice(0, 1), expected, 'the line pino writes for a child with reqId and correlationId')
  t.match(JSON.parse(lines[1]!), { reqId: 'req-9', correlationId: 'batch-7', msg: 'failed', err: { message: 'boom' } })
  log.child({ component: 'x' }).warn('from a child')
  t.match(JSON.parse(lines[2]!), { reqId: 'req-9', correlationId: 'batch-7', component: 'x', msg: 'from a child' })
  log.level = 'info'
  log.info('now written')
  t.match(JSON.parse(lines[3]!), { reqId: 'req-9', correlationId: 'batch-7', msg: 'now written' })
  t.equal(parent.level, 'warn', "setting the request's level leaves the parent's alone")

  // without X-Correlation-Id the request id is the correlation id
  const plain = childLoggerFactory.call(null as never, parent, { reqId: 'req-10' }, {}, { headers: {} } as never)
  plain.fatal('down')
  t.match(JSON.parse(lines[4]!), { reqId: 'req-10', correlationId: 'req-10', msg: 'down' })
})
