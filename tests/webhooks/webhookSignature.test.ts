import { randomUUID } from 'node:crypto'
import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { checkWebhookSignature, signedWebhookHeaders, webhookSignature } from '../../infra/webhooks/webhookSignature.ts'
import { appendsNothing } from '../support/eventLog.ts'
import { MessagingClient } from '../support/messagingFixtures.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'
import { postSigned, webhookSecretOf } from '../support/webhooks.ts'

/**
 * The webhook signature: X-Mifumo-Tenant, X-Mifumo-Timestamp and X-Mifumo-Signature =
 * sha256=HMAC-SHA256(secret, "<timestamp>.<raw body>"), checked over the raw bytes, within five
 * minutes of our clock, with the tenant's current secret (or the one a rotation replaced, for 24
 * hours). Anything else is a 401 in the spec's {detail} form, and nothing is appended.
 */
const REPORTS = '/api/messaging/sms/delivery-report/'

t.test('the signature itself', async (t) => {
  const now = new Date('2026-03-10T09:00:00Z')
  const body = Buffer.from('{"a":1}')
  const ts = String(now.getTime() / 1000)
  const signature = webhookSignature('whsec_one', Number(ts), body)
  t.match(signature, /^sha256=[0-9a-f]{64}$/)
  const check = (input: Partial<Parameters<typeof checkWebhookSignature>[0]>) =>
    checkWebhookSignature({ secrets: ['whsec_one'], timestamp: ts, signature, rawBody: body, now, ...input })

  t.same(check({}), { ok: true })
  t.same(check({ secrets: ['whsec_two', 'whsec_one'] }), { ok: true }, 'any valid secret')
  t.same(check({ signature: `sha256=${'0'.repeat(64)}, ${signature}` }), { ok: true }, 'one of several signatures')
  t.same(check({ secrets: ['whsec_two'] }), { ok: false, problem: 'mismatch' })
  t.same(check({ secrets: [] }), { ok: false, problem: 'mismatch' })
  t.same(check({ rawBody: Buffer.from('{"a": 1}') }), { ok: false, problem: 'mismatch' }, 'the bytes, not the JSON value')
  t.same(check({ signature: undefined }), { ok: false, problem: 'missing' })
  t.same(check({ timestamp: undefined }), { ok: false, problem: 'missing' })
  t.same(check({ timestamp: 'yesterday' }), { ok: false, problem: 'malformed' })
  t.same(check({ signature: signature.slice('sha256='.length) }), { ok: false, problem: 'malformed' }, 'the scheme is required')
  t.same(check({ now: new Date(now.getTime() + 300_000) }), { ok: true }, 'five minutes late is still in the window')
  t.same(check({ now: new Date(now.getTime() + 301_000) }), { ok: false, problem: 'stale' })
  t.same(check({ now: new Date(now.getTime() - 301_000) }), { ok: false, problem: 'stale' }, 'from the future too')

  const headers = signedWebhookHeaders('tenant-1', 'whsec_one', '{"a":1}', now)
  t.same(headers, { 'x-mifumo-tenant': 'tenant-1', 'x-mifumo-timestamp': ts, 'x-mifumo-signature': signature })
})

t.test('webhook calls over HTTP', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { label: 'webhook_signature', clock })
  const db = services.database.db
  const admin = await registerUser(app)
  const other = await registerUser(app)
  const secret = await webhookSecretOf(app, admin)
  const otherSecret = await webhookSecretOf(app, other)
  t.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/)
  t.not(secret, otherSecret, 'one secret per tenant')

  const client = new MessagingClient(app, admin)
  const conversation = await client.conversation('+255712000101')
  const messageId = await client.send(conversation, 'Your order is ready')
  await client.post(`/api/messaging/messages/${messageId}/status/`, { status: 'sent', provider_message_id: 'prov-101' })
  const report = { reference: messageId, provider_message_id: 'prov-101', status: 'delivered', timestamp: clock.now().toISOString() }
  const post = (call: Partial<Parameters<typeof postSigned>[3]>) => postSigned(app, clock, REPORTS, { tenantId: admin.tenantId, secret, body: report, ...call })
  const messageStatus = async () => (await app.inject(as(admin, { method: 'GET', url: `/api/messaging/sms/${messageId}/status/` }))).json().data.status

  const refusals: [string, Partial<Parameters<typeof postSigned>[3]>, string][] = [
    ['a wrong signature', { headers: { 'x-mifumo-signature': `sha256=${'ab'.repeat(32)}` } }, 'Webhook signature is invalid.'],
    ['no signature', { headers: { 'x-mifumo-signature': undefined } }, 'Webhook signature headers were not provided.'],
    ['no timestamp', { headers: { 'x-mifumo-timestamp': undefined } }, 'Webhook signature headers were not provided.'],
    ['no tenant', { headers: { 'x-mifumo-tenant': undefined } }, 'Webhook signature headers were not provided.'],
    ['a stale timestamp', { signedAt: new Date(clock.now().getTime() - 6 * 60_000) }, 'Webhook timestamp is outside the allowed window.'],
    ['a timestamp from the future', { signedAt: new Date(clock.now().getTime() + 6 * 60_000) }, 'Webhook timestamp is outside the allowed window.'],
    ["another tenant's secret", { secret: otherSecret }, 'Webhook signature is invalid.'],
    ['an unknown tenant', { tenantId: randomUUID() }, 'Webhook signature is invalid.'],
    ['a tenant that is no id', { tenantId: 'acme' }, 'Webhook signature is invalid.'],
    ['a malformed signature', { headers: { 'x-mifumo-signature': 'md5=abc' } }, 'Webhook signature headers are malformed.'],
  ]
  for (const [what, call, detail] of refusals) {
    await appendsNothing(t, db, async () => {
      const response = await post(call)
      t.equal(response.statusCode, 401, what)
      t.same(response.json(), { detail }, `${what}: the spec's 401 body`)
    })
  }

  await t.test('a body changed after signing is refused', async (t) => {
    const raw = JSON.stringify(report)
    const headers = signedWebhookHeaders(admin.tenantId, secret, raw, clock.now())
    const tampered = JSON.stringify({ ...report, status: 'failed', reason: 'forged' })
    await appendsNothing(t, db, async () => {
      const response = await app.inject({ method: 'POST', url: REPORTS, headers: { ...headers, 'content-type': 'application/json' }, payload: tampered })
      t.equal(response.statusCode, 401)
    })
    const reformatted = JSON.stringify(report, null, 2)
    const response = await app.inject({ method: 'POST', url: REPORTS, headers: { ...headers, 'content-type': 'application/json' }, payload: reformatted })
    t.equal(response.statusCode, 401, 'the same JSON value in other bytes is not what was signed')
  })

  t.equal(await messageStatus(), 'sent', 'no refused call changed the message')

  await t.test('a properly signed call is accepted, four minutes old too', async (t) => {
    const response = await post({ signedAt: new Date(clock.now().getTime() - 4 * 60_000) })
    t.equal(response.statusCode, 200, response.body)
    t.match(response.json(), { success: true, data: { accepted: 1, duplicates: 0, unknown: 0 } })
    t.equal(await messageStatus(), 'delivered')
  })

  await t.test('a signed body that is not a report is a validation error, after the signature', async (t) => {
    const response = await post({ body: { reference: messageId } })
    t.equal(response.statusCode, 400)
    t.match(response.json(), { success: false, message: 'Validation failed' })
    const unsigned = await app.inject({ method: 'POST', url: REPORTS, payload: { reference: messageId } })
    t.equal(unsigned.statusCode, 401, 'unsigned: the signature is checked first')
    const malformed = await post({ body: '{"reference": ' })
    t.equal(malformed.statusCode, 400, 'malformed JSON that is signed')
  })

  await t.test('the webhook routes take no bearer token instead of a signature', async (t) => {
    const response = await app.inject(as(admin, { method: 'POST', url: REPORTS, payload: report }))
    t.equal(response.statusCode, 401)
  })
})

t.test('the webhook secret: who sees it, rotation', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { label: 'webhook_secret', clock })
  const admin = await registerUser(app)
  const memberEmail = `member-${Date.now()}@example.com`
  const member = await registerUser(app, { email: memberEmail })
  const stranger = await registerUser(app)
  const added = await app.inject(as(admin, { method: 'POST', url: `/api/tenants/${admin.tenantId}/members/`, payload: { email: memberEmail, role: 'user' } }))
  t.equal(added.statusCode, 201, added.body)
  const url = `/api/tenants/${admin.tenantId}/webhook-secret/`

  const first = await app.inject(as(admin, { method: 'GET', url }))
  t.equal(first.statusCode, 200)
  t.equal(first.headers['cache-control'], 'no-store')
  const data = first.json().data
  t.match(data, { tenant_id: admin.tenantId, created_at: '2026-03-10T09:00:00.000Z', rotated_at: null, previous_secret_valid_until: null })
  t.match(data.signature, { algorithm: 'HMAC-SHA256', tolerance_seconds: 300 })
  const again = await app.inject(as(admin, { method: 'GET', url }))
  t.equal(again.json().data.secret, data.secret, 'created once, then the same')

  t.equal((await app.inject(as(member, { method: 'GET', url }))).statusCode, 403, 'a member who is no admin')
  t.equal((await app.inject(as(member, { method: 'POST', url: `${url}rotate/` }))).statusCode, 403)
  t.equal((await app.inject(as(stranger, { method: 'GET', url }))).statusCode, 404, 'not a member')
  t.equal((await app.inject(as(stranger, { method: 'POST', url: `${url}rotate/` }))).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url })).statusCode, 401, 'no token')

  // a message to report on, so an accepted call shows
  const client = new MessagingClient(app, admin)
  const conversation = await client.conversation('+255712000201')
  const messageIds = [await client.send(conversation, 'one'), await client.send(conversation, 'two'), await client.send(conversation, 'three')]
  const report = (index: number) => ({ reference: messageIds[index], provider_message_id: `prov-${index}`, status: 'delivered', timestamp: clock.now().toISOString() })
  const post = (secret: string, index: number) => postSigned(app, clock, REPORTS, { tenantId: admin.tenantId, secret, body: report(index) })

  clock.advance(60_000)
  const rotated = await app.inject(as(admin, { method: 'POST', url: `${url}rotate/` }))
  t.equal(rotated.statusCode, 200, rotated.body)
  t.equal(rotated.headers['cache-control'], 'no-store')
  const next = rotated.json().data
  t.not(next.secret, data.secret, 'a new secret')
  t.match(next, { rotated_at: '2026-03-10T09:01:00.000Z', previous_secret_valid_until: '2026-03-11T09:01:00.000Z', created_at: '2026-03-10T09:00:00.000Z' })
  t.equal((await app.inject(as(admin, { method: 'GET', url }))).json().data.secret, next.secret)

  t.equal((await post(next.secret, 0)).statusCode, 200, 'the new secret signs')
  t.equal((await post(data.secret, 1)).statusCode, 200, 'the old one too, during the grace period')
  clock.advance(24 * 3600_000 + 1000)
  t.equal((await post(data.secret, 2)).statusCode, 401, 'not after it')
  t.equal((await post(next.secret, 2)).statusCode, 200)

  // a second rotation retires the older one at once
  const third = (await app.inject(as(admin, { method: 'POST', url: `${url}rotate/` }))).json().data
  t.equal((await post(next.secret, 2)).statusCode, 200, 'the one just replaced still signs')
  const fourth = (await app.inject(as(admin, { method: 'POST', url: `${url}rotate/` }))).json().data
  t.not(fourth.secret, third.secret)
  t.equal((await post(next.secret, 2)).statusCode, 401, 'two rotations back: refused at once')
  t.equal((await post(third.secret, 2)).statusCode, 200)
  t.ok(services)
})
