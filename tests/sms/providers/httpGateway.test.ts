import t from 'tap'
import { ProviderUnavailable, type OutboundSms } from '../../../infra/sms/smsProvider.ts'
import { HttpSmsGateway, retryAfterMs, type HttpGatewayOptions } from '../../../infra/sms/httpGateway.ts'
import { closedPort, json, startFakeGateway } from './fakeGateway.ts'

/**
 * The HTTP gateway adapter against a real HTTP server on loopback. Timing assertions are lower
 * bounds only (a pause at least as long as configured), never tight upper bounds. setTimeout may
 * fire a millisecond early by rounding, hence the small slack.
 */
const SLACK_MS = 2
const API_KEY = 'gw-test-key-123'

const sms = (overrides: Partial<OutboundSms> = {}): OutboundSms => ({
  messageId: '5b0e7d52-63a4-4a65-9d4a-0a4b9e3f1c01',
  tenantId: 'a1f4c2de-0000-4000-8000-000000000001',
  to: '+255712345678',
  senderId: 'MIFUMO',
  channel: 'sms',
  text: 'Habari! Your order has shipped.',
  ...overrides,
})

const gateway = (url: string, overrides: Partial<HttpGatewayOptions> = {}): HttpSmsGateway =>
  new HttpSmsGateway({ url: `${url}/v1/messages`, apiKey: API_KEY, timeoutMs: 300, attempts: 3, backoffMs: 50, ...overrides })

const gaps = (times: number[]): number[] => times.slice(1).map((time, i) => time - times[i]!)

t.test('2xx: accepted with the provider id; the request carries the key, the idempotency key and the JSON body', async (t) => {
  const server = await startFakeGateway(t, (_request, response) => json(response, 202, { provider_message_id: 'gw-0001', status: 'queued' }))
  const adapter = gateway(server.url)
  const message = sms()

  t.same(await adapter.send(message), { status: 'accepted', providerMessageId: 'gw-0001' })
  t.equal(server.requests.length, 1)
  const [request] = server.requests
  t.equal(request!.method, 'POST')
  t.equal(request!.path, '/v1/messages')
  t.equal(request!.headers['authorization'], `Bearer ${API_KEY}`)
  t.equal(request!.headers['x-api-key'], API_KEY)
  t.equal(request!.headers['idempotency-key'], message.messageId, 'the message id is the idempotency key')
  t.match(request!.headers['content-type'], /^application\/json/)
  t.same(JSON.parse(request!.body), {
    message_id: message.messageId,
    to: '+255712345678',
    sender_id: 'MIFUMO',
    channel: 'sms',
    text: 'Habari! Your order has shipped.',
  })
})

t.test('2xx: {id} is read too (a number becomes a string); a missing sender id falls back to the default', async (t) => {
  const server = await startFakeGateway(t, (_request, response) => json(response, 200, { id: 98765 }))
  const adapter = gateway(server.url, { defaultSenderId: 'DEFAULTSND' })
  t.same(await adapter.send(sms({ senderId: null, channel: 'whatsapp' })), { status: 'accepted', providerMessageId: '98765' })
  t.match(JSON.parse(server.requests[0]!.body), { sender_id: 'DEFAULTSND', channel: 'whatsapp' })

  const withoutDefault = gateway(server.url)
  await withoutDefault.send(sms({ senderId: null }))
  t.equal(JSON.parse(server.requests[1]!.body).sender_id, null, 'null when neither the message nor the adapter names one')
})

t.test('2xx with an unusable body: ProviderUnavailable, not retried by the adapter', async (t) => {
  const bodies = ['not json', '{}', '{"provider_message_id": ""}', '[]']
  const server = await startFakeGateway(t, (_request, response, index) => {
    response.writeHead(200, { 'Content-Type': 'application/json' })
    response.end(bodies[index])
  })
  const adapter = gateway(server.url)
  for (let i = 0; i < bodies.length; i++) {
    await t.rejects(adapter.send(sms()), ProviderUnavailable, `body ${bodies[i]}`)
  }
  t.equal(server.requests.length, bodies.length, 'one request each')
})

t.test('400 and 422: rejected for good with the gateway message, sent exactly once', async (t) => {
  const server = await startFakeGateway(t, (_request, response, index) => {
    if (index === 0) return json(response, 400, { message: 'Invalid destination number' })
    if (index === 1) return json(response, 422, { error: { code: 'blocked', message: 'Content blocked by carrier' } })
    response.writeHead(422, 'Unprocessable Entity')
    response.end()
  })
  const adapter = gateway(server.url)

  t.same(await adapter.send(sms()), { status: 'rejected', reason: 'Invalid destination number' })
  t.equal(server.requests.length, 1, 'a 400 is not retried')
  t.same(await adapter.send(sms()), { status: 'rejected', reason: 'Content blocked by carrier' })
  t.equal(server.requests.length, 2, 'a 422 is not retried')
  t.same(await adapter.send(sms()), { status: 'rejected', reason: 'Unprocessable Entity' }, 'no body: the status text')
  t.equal(server.requests.length, 3)
})

t.test('401, 403 and 404: ProviderUnavailable at once, no retry', async (t) => {
  const statuses = [401, 403, 404]
  const server = await startFakeGateway(t, (_request, response, index) => json(response, statuses[index]!, { detail: 'nope' }))
  const adapter = gateway(server.url)
  for (const status of statuses) {
    const error = await adapter.send(sms()).then(
      () => null,
      (caught: unknown) => caught,
    )
    t.ok(error instanceof ProviderUnavailable, `${status} → ProviderUnavailable`)
    t.match((error as Error).message, new RegExp(`HTTP ${status}`))
    t.notMatch((error as Error).message, API_KEY, 'the key never appears in errors')
  }
  t.equal(server.requests.length, statuses.length, 'one request each: 4xx is never retried')
})

t.test('a redirect is not followed: ProviderUnavailable, the key stays home', async (t) => {
  const elsewhere = await startFakeGateway(t, (_request, response) => json(response, 200, { provider_message_id: 'elsewhere' }))
  const server = await startFakeGateway(t, (_request, response) => {
    response.writeHead(307, { Location: `${elsewhere.url}/v1/messages` })
    response.end()
  })
  const error = await gateway(server.url).send(sms()).catch((caught: unknown) => caught)
  t.ok(error instanceof ProviderUnavailable)
  t.match((error as Error).message, /HTTP 307/)
  t.equal(server.requests.length, 1)
  t.equal(elsewhere.requests.length, 0)
})

t.test('500 twice then 200: accepted after 3 tries, with pauses of at least the backoff, doubling', async (t) => {
  const backoffMs = 80
  const server = await startFakeGateway(t, (_request, response, index) => {
    if (index < 2) return json(response, 500, { message: 'upstream trouble' })
    json(response, 200, { provider_message_id: 'gw-after-retries' })
  })
  const adapter = gateway(server.url, { backoffMs, attempts: 3 })

  t.same(await adapter.send(sms()), { status: 'accepted', providerMessageId: 'gw-after-retries' })
  t.equal(server.requests.length, 3)
  const [first, second] = gaps(server.requests.map((request) => request.at))
  t.ok(first! >= backoffMs - SLACK_MS, `first pause ${first!.toFixed(1)} ms >= ${backoffMs} ms`)
  t.ok(second! >= 2 * backoffMs - SLACK_MS, `second pause ${second!.toFixed(1)} ms >= ${2 * backoffMs} ms`)
  const keys = new Set(server.requests.map((request) => request.headers['idempotency-key']))
  t.same([...keys], [sms().messageId], 'every try carries the same idempotency key')
  t.same(new Set(server.requests.map((request) => request.body)).size, 1, 'and the same body')
})

t.test('always 500: ProviderUnavailable after `attempts` tries', async (t) => {
  const server = await startFakeGateway(t, (_request, response) => {
    response.writeHead(503, 'Service Unavailable')
    response.end('maintenance')
  })
  const adapter = gateway(server.url, { attempts: 4, backoffMs: 10 })
  const error = await adapter.send(sms()).catch((caught: unknown) => caught)
  t.ok(error instanceof ProviderUnavailable)
  t.match((error as Error).message, /after 4 tries: HTTP 503 Service Unavailable: maintenance/)
  t.equal(server.requests.length, 4)
})

t.test('a hanging answer beyond timeoutMs is abandoned and tried again', async (t) => {
  t.test('a later fast answer wins', async (t) => {
    const server = await startFakeGateway(t, (_request, response, index) => {
      if (index === 0) return // never answers
      json(response, 200, { provider_message_id: 'gw-second-try' })
    })
    const adapter = gateway(server.url, { timeoutMs: 150, backoffMs: 20 })
    const started = performance.now()
    t.same(await adapter.send(sms()), { status: 'accepted', providerMessageId: 'gw-second-try' })
    t.equal(server.requests.length, 2, 'the server saw another request')
    t.ok(performance.now() - started >= 150 - SLACK_MS, 'the first try was given its full timeout')
  })

  t.test('headers sent but the body hangs: the deadline covers the body too', async (t) => {
    const server = await startFakeGateway(t, (_request, response, index) => {
      if (index === 0) {
        response.writeHead(200, { 'Content-Type': 'application/json' })
        response.write('{"provider_message_id": ') // and never ends
        return
      }
      json(response, 200, { provider_message_id: 'gw-whole-body' })
    })
    const adapter = gateway(server.url, { timeoutMs: 150, backoffMs: 20 })
    t.same(await adapter.send(sms()), { status: 'accepted', providerMessageId: 'gw-whole-body' })
    t.equal(server.requests.length, 2)
  })

  t.test('every try hangs: ProviderUnavailable after the tries', async (t) => {
    const server = await startFakeGateway(t, () => {})
    const adapter = gateway(server.url, { timeoutMs: 100, attempts: 2, backoffMs: 20 })
    const error = await adapter.send(sms()).catch((caught: unknown) => caught)
    t.ok(error instanceof ProviderUnavailable)
    t.match((error as Error).message, /after 2 tries: no answer within 100 ms/)
    t.equal(server.requests.length, 2)
  })
})

t.test('connection refused: retried, then ProviderUnavailable', async (t) => {
  const port = await closedPort()
  const backoffMs = 30
  const adapter = gateway(`http://127.0.0.1:${port}`, { attempts: 3, backoffMs })
  const started = performance.now()
  const error = await adapter.send(sms()).catch((caught: unknown) => caught)
  const elapsed = performance.now() - started
  t.ok(error instanceof ProviderUnavailable)
  t.match((error as Error).message, /after 3 tries: network error/)
  t.ok(elapsed >= backoffMs + 2 * backoffMs - SLACK_MS, `two pauses happened (${elapsed.toFixed(1)} ms)`)
})

t.test('429: retried, honouring Retry-After; one beyond the bound fails at once', async (t) => {
  t.test('Retry-After: 1 is waited for, though the backoff is shorter', async (t) => {
    const server = await startFakeGateway(t, (_request, response, index) => {
      if (index === 0) return json(response, 429, { message: 'slow down' }, { 'Retry-After': '1' })
      json(response, 200, { provider_message_id: 'gw-after-429' })
    })
    const adapter = gateway(server.url, { backoffMs: 20 })
    t.same(await adapter.send(sms()), { status: 'accepted', providerMessageId: 'gw-after-429' })
    t.equal(server.requests.length, 2)
    const [pause] = gaps(server.requests.map((request) => request.at))
    t.ok(pause! >= 1000 - SLACK_MS, `paused ${pause!.toFixed(1)} ms >= 1000 ms`)
  })

  t.test('without Retry-After: like a 5xx', async (t) => {
    const server = await startFakeGateway(t, (_request, response) => json(response, 429, { message: 'slow down' }))
    const adapter = gateway(server.url, { attempts: 2, backoffMs: 20 })
    await t.rejects(adapter.send(sms()), ProviderUnavailable)
    t.equal(server.requests.length, 2)
  })

  t.test('Retry-After beyond maxRetryAfterMs: ProviderUnavailable without waiting', async (t) => {
    const server = await startFakeGateway(t, (_request, response) => json(response, 429, {}, { 'Retry-After': '120' }))
    const adapter = gateway(server.url, { maxRetryAfterMs: 5000 })
    const started = performance.now()
    const error = await adapter.send(sms()).catch((caught: unknown) => caught)
    t.ok(error instanceof ProviderUnavailable)
    t.match((error as Error).message, /retry after 120 s/)
    t.equal(server.requests.length, 1)
    t.ok(performance.now() - started < 5000, 'it did not wait for the 120 s')
  })

  t.test('Retry-After parsing', async (t) => {
    const now = Date.parse('2026-04-01T10:00:00Z')
    t.equal(retryAfterMs('3', now), 3000)
    t.equal(retryAfterMs('Wed, 01 Apr 2026 10:00:05 GMT', now), 5000)
    t.equal(retryAfterMs('Wed, 01 Apr 2026 09:00:00 GMT', now), 0, 'a date in the past: no wait')
    t.equal(retryAfterMs('soon', now), null)
    t.equal(retryAfterMs(null, now), null)
  })
})

t.test('testConnection', async (t) => {
  t.test('a GET on /health with the key: ok with the latency', async (t) => {
    const server = await startFakeGateway(t, (_request, response) => json(response, 200, { status: 'ok' }))
    const check = await gateway(server.url).testConnection()
    t.match(check, { ok: true, provider: 'http', detail: /reachable \(HTTP 200\)/ })
    t.ok(check.latency_ms >= 0)
    t.equal(server.requests.length, 1)
    t.match(server.requests[0], { method: 'GET', path: '/health' })
    t.equal(server.requests[0]!.headers['authorization'], `Bearer ${API_KEY}`)
    t.equal(server.requests[0]!.headers['x-api-key'], API_KEY)
  })

  t.test('a configured health URL', async (t) => {
    const server = await startFakeGateway(t, (_request, response) => json(response, 200, {}))
    const check = await gateway(server.url, { healthUrl: `${server.url}/v1/status?deep=1` }).testConnection()
    t.equal(check.ok, true)
    t.equal(server.requests[0]!.path, '/v1/status?deep=1')
  })

  t.test('a refused key, a server error, a hang and a closed port are not ok', async (t) => {
    const server = await startFakeGateway(t, (_request, response, index) => {
      if (index === 0) return json(response, 401, {})
      if (index === 1) return json(response, 500, {})
      // the third hangs
    })
    t.match(await gateway(server.url).testConnection(), { ok: false, provider: 'http', detail: /refused the API key \(HTTP 401\)/ })
    t.match(await gateway(server.url).testConnection(), { ok: false, detail: /HTTP 500/ })
    t.match(await gateway(server.url, { timeoutMs: 100 }).testConnection(), { ok: false, detail: /no answer within 100 ms/ })
    const port = await closedPort()
    t.match(await gateway(`http://127.0.0.1:${port}`).testConnection(), { ok: false, detail: /unreachable/ })
  })
})

t.test('close() ends a send waiting between tries', async (t) => {
  const server = await startFakeGateway(t, (_request, response) => json(response, 500, {}))
  const adapter = gateway(server.url, { attempts: 5, backoffMs: 10_000 })
  const sending = adapter.send(sms())
  while (server.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  await new Promise((resolve) => setTimeout(resolve, 20))
  await adapter.close()
  await t.rejects(sending, ProviderUnavailable)
  t.equal(server.requests.length, 1)
})
