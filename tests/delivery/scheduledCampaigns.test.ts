import t from 'tap'
import { buildApp, openServices } from '../../app.ts'
import { loadConfig } from '../../infra/config.ts'
import { systemClock } from '../../infra/clock.ts'
import { eventually } from '../support/eventually.ts'
import { MessagingClient } from '../support/messagingFixtures.ts'
import { TEST_JWT_SECRET } from '../support/testApp.ts'
import { campaignOf, campaignReaches, createCampaign, ensureReportsRecorded, importContacts, messageFates, startDeliveryApp } from './deliverySupport.ts'

/**
 * Campaigns that start and end by themselves: a scheduled campaign starts at its time (and a
 * rescheduled one only at its new time), work an in-process queue lost with its process is taken
 * up by the next one, and a campaign whose reports never come completes at its timeout.
 */

const inSeconds = (seconds: number): string => new Date(Date.now() + seconds * 1000).toISOString()

t.test('scheduled campaigns start by themselves', async (t) => {
  const { client } = await startDeliveryApp(t, { label: 'delivery_scheduled' })
  await importContacts(client, 10, 'scheduled')

  t.test('at their time', async (t) => {
    const scheduledAt = inSeconds(1.5)
    const campaignId = await createCampaign(client, 'scheduled', { name: 'On time', scheduled_at: scheduledAt })
    t.equal((await campaignOf(client, campaignId)).status, 'scheduled')
    const completed = await campaignReaches(client, campaignId, 'completed', 30_000)
    t.ok(Date.parse(completed.started_at) >= Date.parse(scheduledAt), `started at ${completed.started_at}, not before ${scheduledAt}`)
    t.equal(completed.delivered_count + completed.failed_count, 10, 'and its messages went out, with their outcomes')
  })

  t.test('a rescheduled campaign starts only at its new time; an unscheduled one not at all', async (t) => {
    const first = inSeconds(1)
    const moved = await createCampaign(client, 'scheduled', { name: 'Moved', scheduled_at: first })
    const later = inSeconds(3)
    const updated = await client.app.inject({ method: 'PUT', url: `/api/messaging/campaigns/${moved}/`, headers: client.session.headers, payload: { scheduled_at: later } })
    t.equal(updated.statusCode, 200, updated.body)
    client.position = Math.max(client.position, updated.json().position ?? 0)

    const dropped = await createCampaign(client, 'scheduled', { name: 'Dropped', scheduled_at: inSeconds(1) })
    const unscheduled = await client.app.inject({ method: 'PUT', url: `/api/messaging/campaigns/${dropped}/`, headers: client.session.headers, payload: { scheduled_at: null } })
    t.equal(unscheduled.statusCode, 200, unscheduled.body)
    client.position = Math.max(client.position, unscheduled.json().position ?? 0)

    const running = await eventually(
      () => campaignOf(client, moved),
      (campaign) => campaign.started_at !== null,
      30_000,
    )
    t.ok(Date.parse(running.started_at) >= Date.parse(later), `started at ${running.started_at}: at its new time ${later}, not its first ${first}`)
    t.equal(running.scheduled_at, later)
    t.equal((await campaignOf(client, dropped)).status, 'draft', 'the unscheduled campaign stayed a draft after its old time')
  })
})

t.test('work an in-process queue held is taken up by the next process', async (t) => {
  // the first process queues and schedules, but runs no workers: its queue dies with it
  const first = await startDeliveryApp(t, { label: 'delivery_restart', redis: false, env: { DELIVERY_WORKERS: 'false' } })
  const { client } = first
  await importContacts(client, 12, 'restart')
  const started = await createCampaign(client, 'restart', { name: 'Started before the restart' })
  await client.post(`/api/messaging/campaigns/${started}/start/`)
  const scheduledAt = inSeconds(2)
  const scheduled = await createCampaign(client, 'restart', { name: 'Scheduled before the restart', scheduled_at: scheduledAt })
  await eventually(() => messageFates(first.services, started), (fates) => fates.events.size === 12, 30_000)

  // the first process ends; the next one opens the same database, with its workers
  await first.services.close()
  const config = loadConfig({
    DATABASE_URL: first.database.url,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    READ_YOUR_WRITES_TIMEOUT_MS: '30000',
    RATE_LIMITS_ENABLED: 'false',
    DELIVERY_WORKERS: 'true',
    SIMULATOR_SEED: 'delivery-tests',
    SIMULATOR_MIN_DELAY_MS: '20',
    SIMULATOR_MAX_DELAY_MS: '150',
  })
  const next = await openServices(config, { clock: systemClock })
  const nextApp = await buildApp(next)
  ensureReportsRecorded(next)
  try {
    const reader = new MessagingClient(nextApp, client.session)
    const done = await campaignReaches(reader, started, 'completed', 30_000)
    t.equal(done.delivered_count + done.failed_count, 12, 'the queued messages were sent by the next process, and their outcomes came back')
    const fates = await messageFates(next, started)
    t.same(fates.unfinished, [])
    t.same(fates.sentTwice, [])

    const later = await campaignReaches(reader, scheduled, 'completed', 30_000)
    t.ok(Date.parse(later.started_at) >= Date.parse(scheduledAt), 'the scheduled campaign started at its time in the next process')
  } finally {
    await nextApp.close()
    await next.close()
  }
})

t.test('a campaign whose reports never come completes at its timeout', async (t) => {
  const { services, client, simulator } = await startDeliveryApp(t, {
    label: 'delivery_timeout',
    env: { SIMULATOR_REPORTS: 'false', CAMPAIGN_COMPLETION_TIMEOUT: '2' },
  })
  await importContacts(client, 20, 'silent')
  const campaignId = await createCampaign(client, 'silent')
  await client.post(`/api/messaging/campaigns/${campaignId}/start/`)

  const completed = await campaignReaches(client, campaignId, 'completed', 30_000)
  const fates = await messageFates(services, campaignId)
  t.equal(fates.delivered, 0, 'no report came')
  t.equal(fates.sent, simulator.stats().accepted)
  t.match(completed, { status: 'completed', sent_count: fates.sent, delivered_count: 0, delivery_rate: 0 })
})
