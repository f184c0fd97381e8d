import t from 'tap'
import { campaignReaches, createCampaign, importContacts, messageFates, startDeliveryApp } from './deliverySupport.ts'

/**
 * The acceptance test: a 1,000-recipient campaign on the simulator with real Redis. Every
 * recipient gets exactly one send, the campaign completes by itself when every message has an
 * outcome, and the overview's delivery rate is delivered ÷ sent as the event log tells them.
 */
t.test('a 1,000-recipient campaign is delivered once to each recipient and completes by itself', async (t) => {
  const { services, client, simulator } = await startDeliveryApp(t, { label: 'delivery_campaign' })
  t.equal(services.queues.kind, 'bullmq')

  await importContacts(client, 1000, 'everyone')
  const campaignId = await createCampaign(client, 'everyone')
  const started = await client.post(`/api/messaging/campaigns/${campaignId}/start/`)
  t.equal(started.campaign.status, 'running')

  const completed = await campaignReaches(client, campaignId, 'completed', 90_000)
  const fates = await messageFates(services, campaignId)
  t.equal(fates.events.size, 1000, 'one message per recipient')
  t.same(fates.unfinished, [], 'every message has a final outcome')
  t.same(fates.sentTwice, [], 'no message was recorded sent twice')

  const stats = simulator.stats()
  t.equal(stats.sendCalls, 1000, 'the provider was called once per recipient')
  t.equal(stats.duplicates, 0, 'never with a message id it had seen')
  t.same([...fates.events.keys()].filter((id) => simulator.sendCount(id) !== 1), [], 'each message went to the provider exactly once')
  t.equal(stats.accepted, fates.sent, 'what the provider accepted is what was recorded sent')
  t.equal(stats.rejected + fates.sent, 1000, 'every message was accepted or rejected')
  t.equal(fates.delivered + fates.failed, 1000, 'and ended delivered or failed')

  // the completion carries the real counts
  t.match(completed, { total_recipients: 1000, sent_count: fates.sent, delivered_count: fates.delivered, failed_count: fates.failed, progress_percentage: 100 })
  const expectedRate = Math.round((fates.delivered / fates.sent) * 1000) / 10
  t.equal(completed.delivery_rate, expectedRate, 'the campaign delivery rate is delivered ÷ sent')
  const head = await services.store.headPosition()
  client.position = Math.max(client.position, head)
  const activity = await client.get('/api/messaging/activity/recent/?type=campaign_completed')
  const completion = activity.data.activities.find((item: any) => item.metadata?.campaign_id === campaignId)
  t.match(completion?.metadata, { sent_count: fates.sent, delivered_count: fates.delivered, delivery_rate: expectedRate }, 'the campaign_completed activity carries the real counts')

  // the overview, once it has seen everything recorded so far
  const overview = (await client.get('/api/messaging/performance/overview/')).data
  t.equal(overview.metrics.delivery_rate, expectedRate, `overview delivery_rate = ${fates.delivered} delivered ÷ ${fates.sent} sent`)
  const analytics = (await client.get('/api/messaging/analytics/overview/')).data
  t.equal(analytics.rates.delivery_rate, expectedRate, 'the analytics overview agrees')
})
