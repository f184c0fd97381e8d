import { randomUUID } from 'node:crypto'
import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { appendsNothing } from '../support/eventLog.ts'
import { MessagingClient } from '../support/messagingFixtures.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'
import { postSigned, webhookSecretOf } from '../support/webhooks.ts'

/**
 * POST /api/messaging/sms/delivery-report/: a provider's reports (one, or an array) move the
 * tenant's outbound messages to delivered, read or failed, as the system, at our clock's time.
 * A report repeated appends nothing; unknown references are reported, never a 5xx. (The send
 * workers are off here: the test records "sent" itself, as a provider's acceptance would.)
 */
const REPORTS = '/api/messaging/sms/delivery-report/'

t.test('delivery reports', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { label: 'delivery_reports', clock })
  const db = services.database.db
  const admin = await registerUser(app)
  const secret = await webhookSecretOf(app, admin)
  const client = new MessagingClient(app, admin)
  const conversation = await client.conversation('+255712000301')
  const [first, second, third, fourth] = [
    await client.send(conversation, 'first'),
    await client.send(conversation, 'second'),
    await client.send(conversation, 'third'),
    await client.send(conversation, 'fourth'),
  ]
  await client.post(`/api/messaging/messages/${first}/status/`, { status: 'sent', provider_message_id: 'prov-1' })
  const report = (reference: string, providerId: string, status: string, extra: object = {}) => ({
    reference,
    provider_message_id: providerId,
    status,
    timestamp: '2026-03-10T08:59:58Z',
    ...extra,
  })
  const post = (body: unknown) => postSigned(app, clock, REPORTS, { tenantId: admin.tenantId, secret, body })
  const status = async (id: string) => (await app.inject(as(admin, { method: 'GET', url: `/api/messaging/sms/${id}/status/` }))).json().data

  clock.advance(30_000)
  const delivered = await post(report(first!, 'prov-1', 'delivered'))
  t.equal(delivered.statusCode, 200, delivered.body)
  const body = delivered.json()
  t.ok(body.position > 0, 'the position of the recorded events')
  t.same(body.data, {
    accepted: 1,
    duplicates: 0,
    unknown: 0,
    rejected: 0,
    results: [{ reference: first, provider_message_id: 'prov-1', status: 'delivered', outcome: 'recorded', message_status: 'delivered' }],
  })
  t.match(await status(first!), { status: 'delivered', provider_message_id: 'prov-1', delivered_at: '2026-03-10T09:00:30.000Z' }, 'recorded at our clock, not the report time')

  await t.test('the same report again changes nothing', async (t) => {
    await appendsNothing(t, db, async () => {
      const again = await post(report(first!, 'prov-1', 'delivered'))
      t.equal(again.statusCode, 200)
      t.match(again.json().data, { accepted: 0, duplicates: 1, unknown: 0, results: [{ outcome: 'duplicate', message_status: 'delivered' }] })
    })
  })

  await t.test('an older report after a newer one changes nothing either', async (t) => {
    clock.advance(1000)
    const read = await post(report(first!, 'prov-1', 'read'))
    t.match(read.json().data, { accepted: 1, results: [{ outcome: 'recorded', message_status: 'read' }] })
    await appendsNothing(t, db, async () => {
      const late = await post(report(first!, 'prov-1', 'delivered'))
      t.match(late.json().data, { duplicates: 1, results: [{ outcome: 'duplicate', message_status: 'read' }] })
    })
  })

  await t.test('an array of reports, in order per message, each reported', async (t) => {
    clock.advance(1000)
    const otherTenant = await registerUser(app)
    const foreign = await new MessagingClient(app, otherTenant).conversation('+255712000399')
    const foreignMessage = await new MessagingClient(app, otherTenant).send(foreign, 'not yours')
    const response = await post([
      report(second!, 'prov-2', 'delivered'),
      report(second!, 'prov-2', 'read'),
      report(third!, 'prov-3', 'failed', { reason: 'Handset unreachable' }),
      report(randomUUID(), 'prov-x', 'delivered'),
      report('not-our-id', 'prov-y', 'delivered'),
      report(foreignMessage, 'prov-z', 'delivered'),
      report(first!, 'prov-other', 'delivered'),
      report(second!, 'prov-2', 'failed', { reason: 'too late' }),
    ])
    t.equal(response.statusCode, 200, response.body)
    const data = response.json().data
    t.match(data, { accepted: 3, duplicates: 0, unknown: 3, rejected: 2 })
    t.same(
      data.results.map((result: { outcome: string }) => result.outcome),
      ['recorded', 'recorded', 'recorded', 'unknown', 'unknown', 'unknown', 'mismatch', 'rejected'],
    )
    t.match(data.results[6], { message_status: 'read', reason: 'The message was sent under another provider message id' })
    t.match(data.results[7], { message_status: 'read' })
    t.match(await status(second!), { status: 'read', provider_message_id: 'prov-2', sent_at: '2026-03-10T09:00:32.000Z' }, 'the skipped step is filled in with the provider id')
    t.match(await status(third!), { status: 'failed', failure_reason: 'Handset unreachable' })
    t.equal((await status(foreignMessage)) , undefined, "another tenant's message is not found here")
  })

  await t.test('a failure without a reason gets one', async (t) => {
    const response = await post(report(fourth!, 'prov-4', 'failed'))
    t.match(response.json().data, { accepted: 1 })
    t.match(await status(fourth!), { status: 'failed', failure_reason: 'Delivery failed (the provider gave no reason)' })
  })

  await t.test('an inbound message has no delivery status', async (t) => {
    const reply = (await client.post('/api/messaging/messages/', { conversation_id: conversation, content: 'Thanks', direction: 'inbound' })).data.id
    const response = await post(report(reply, 'prov-5', 'delivered'))
    t.match(response.json().data, { rejected: 1, results: [{ outcome: 'rejected', message_status: 'received' }] })
  })

  await t.test('bad bodies', async (t) => {
    for (const bad of [[], { reference: first, provider_message_id: 'p', status: 'sent', timestamp: 'now' }, [{ reference: first }], 'null']) {
      await appendsNothing(t, db, async () => {
        const response = await post(bad)
        t.equal(response.statusCode, 400, JSON.stringify(bad))
      })
    }
  })
})
