import t from 'tap'
import { startDeliveryWorkers } from '../../app.ts'
import { eventually } from '../support/eventually.ts'
import { campaignReaches, createCampaign, importContacts, messageFates, startDeliveryApp } from './deliverySupport.ts'

/**
 * A worker dies in the middle of a campaign (closed with force: its active jobs are abandoned, as
 * a crash would leave them) and another worker on the same Redis queues finishes the campaign: no
 * recipient is sent twice, none is skipped.
 */
t.test('a worker killed mid-campaign: another finishes, nothing sent twice or skipped', async (t) => {
  const recipients = 300
  const { services, client, simulator } = await startDeliveryApp(t, {
    label: 'delivery_crash',
    env: {
      // this test starts its workers itself
      DELIVERY_WORKERS: 'false',
      // slow enough that the crash comes mid-campaign
      PROVIDER_MAX_PER_SECOND: '150',
      SEND_CONCURRENCY: '20',
      // a dead worker's jobs are taken back after 2 s
      QUEUE_LOCK_MS: '2000',
      QUEUE_STALLED_INTERVAL_MS: '1000',
    },
  })
  const first = await startDeliveryWorkers(services)

  await importContacts(client, recipients, 'crash')
  const campaignId = await createCampaign(client, 'crash')
  await client.post(`/api/messaging/campaigns/${campaignId}/start/`)

  await eventually(async () => simulator.stats().sendCalls, (calls) => calls >= 60, 60_000)
  await first.close({ force: true })
  const atCrash = simulator.stats().sendCalls
  t.ok(atCrash < recipients, `the worker died mid-campaign (${atCrash} of ${recipients} sends made)`)

  const second = await startDeliveryWorkers(services)
  t.teardown(() => second.close())
  await campaignReaches(client, campaignId, 'completed', 90_000)

  const fates = await messageFates(services, campaignId)
  const stats = simulator.stats()
  t.comment(`provider: ${JSON.stringify(stats)}`)
  t.equal(fates.events.size, recipients, 'one message per recipient')
  t.same(fates.unfinished, [], 'none skipped: every message reached a final outcome')
  t.same(fates.sentTwice, [], 'no message has two messageSent events')
  t.equal(stats.accepted, recipients - stats.rejected, 'distinct accepted sends = recipients - rejected')
  t.equal(stats.accepted, fates.sent, 'each accepted send recorded once')
  t.equal(fates.cancelled, 0, 'nothing cancelled')
  t.equal(stats.sendCalls - stats.duplicates, recipients, 'each message id reached the provider as a new send once (repeats after the crash are recognised by its idempotency key)')
})
