import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import type { SmsSimulator } from '../../infra/sms/smsSimulator.ts'
import { eventually } from '../support/eventually.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

/**
 * The whole loop on the embedded default's in-process queues: POST /sms/send queues messages, the
 * send workers hand them to the simulator, and the simulator's delivery reports come back signed
 * with the tenant's webhook secret through POST /sms/delivery-report/, which records them. Every
 * message ends as the simulator decided (a pure function of the seed and the message id).
 */
t.test('simulated delivery reports travel the delivery-report route', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, {
    label: 'simulator_reports',
    clock,
    env: {
      DELIVERY_WORKERS: 'true',
      SIMULATOR_SEED: 'webhook-loop',
      SIMULATOR_MIN_DELAY_MS: '5',
      SIMULATOR_MAX_DELAY_MS: '40',
      SIMULATOR_DELIVERY_RATE: '0.7',
      SIMULATOR_REJECTION_RATE: '0.1',
      SIMULATOR_READ_RATE: '0.5',
    },
  })
  t.equal(services.queues.kind, 'in-process')
  const simulator = services.provider as SmsSimulator
  t.equal(simulator.name, 'simulator')
  const admin = await registerUser(app)

  const recipients = Array.from({ length: 30 }, (_, i) => `+2557140000${String(i).padStart(2, '0')}`)
  const sent = await app.inject(as(admin, { method: 'POST', url: '/api/messaging/sms/send/', payload: { message: 'Habari! Your order has shipped.', recipients } }))
  t.equal(sent.statusCode, 201, sent.body)
  const messageIds: string[] = sent.json().data.message_ids
  t.equal(messageIds.length, 30)

  const expected = new Map(
    messageIds.map((id) => {
      const outcome = simulator.outcomeFor(id)
      return [id, outcome.rejected || !outcome.delivered ? 'failed' : outcome.read ? 'read' : 'delivered']
    }),
  )
  t.ok(new Set(expected.values()).size >= 2, `the seed gives a mix of outcomes: ${JSON.stringify([...expected.values()])}`)

  const statusOf = async (id: string) => (await app.inject(as(admin, { method: 'GET', url: `/api/messaging/sms/${id}/status/` }))).json().data
  const finals = await eventually(
    () => Promise.all(messageIds.map(statusOf)),
    (statuses) => statuses.every((status) => status.status === expected.get(status.id)),
    30_000,
  )
  for (const status of finals) {
    const outcome = simulator.outcomeFor(status.id)
    if (outcome.rejected) {
      t.equal(status.provider_message_id, null, 'a rejected send has no provider id')
      continue
    }
    t.equal(status.provider_message_id, outcome.providerMessageId, 'recorded under the simulator id')
    if (outcome.delivered) t.ok(status.delivered_at, 'delivered through a report')
    else t.equal(status.failure_reason, outcome.reason, "the report's reason")
  }
  const stats = simulator.stats()
  t.equal(stats.reportsLost, 0, 'no report was refused')
  t.ok(stats.reportsDelivered >= [...expected.values()].filter((status) => status !== 'failed').length, 'every report went through the sink')
  t.equal(stats.duplicates, 0, 'each message sent once')
})
