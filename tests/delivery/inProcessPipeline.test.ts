import t from 'tap'
import { sendJobId, sendQueueName } from '../../app.ts'
import { eventually } from '../support/eventually.ts'
import { campaignReaches, createCampaign, importContacts, messageFates, startDeliveryApp } from './deliverySupport.ts'

/**
 * The embedded default: no Redis, the same processors on the in-process queues. A small campaign
 * is sent, reported and completes by itself; a conversation message is sent too.
 */
t.test('the delivery pipeline on the in-process queues', async (t) => {
  const { services, client, simulator } = await startDeliveryApp(t, { label: 'delivery_in_process', redis: false })
  t.equal(services.queues.kind, 'in-process')

  await importContacts(client, 30, 'local')
  const campaignId = await createCampaign(client, 'local')
  await client.post(`/api/messaging/campaigns/${campaignId}/start/`)

  const completed = await campaignReaches(client, campaignId, 'completed')
  const fates = await messageFates(services, campaignId)
  t.equal(fates.events.size, 30, 'one message per recipient')
  t.same(fates.unfinished, [], 'every message has a final outcome')
  t.same(fates.sentTwice, [], 'none was recorded sent twice')
  t.same([...fates.events.keys()].filter((id) => simulator.sendCount(id) !== 1), [], 'each message went to the provider once')
  t.equal(fates.sent + simulator.stats().rejected, 30, 'sent or rejected, each')
  t.match(completed, { sent_count: fates.sent, delivered_count: fates.delivered, failed_count: fates.failed })

  // a conversation message goes through the same pipeline
  const conversationId = await client.conversation('+255713000001')
  const messageId = await client.send(conversationId, 'Your order has shipped')
  const message = await (async () => {
    for (;;) {
      const found = (await client.get(`/api/messaging/messages/${messageId}/`)).data
      if (!['queued', 'sent'].includes(found.status)) return found
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  })()
  t.ok(['delivered', 'read', 'failed'].includes(message.status), `the conversation message reached ${message.status}`)
  t.equal(simulator.sendCount(messageId), 1)
})

t.test('a provider that cannot be reached: retried, then kept failed for ops; the message stays queued', async (t) => {
  const { services, client } = await startDeliveryApp(t, {
    label: 'delivery_unreachable',
    redis: false,
    env: {
      // a gateway on a port nothing listens on: every send is ProviderUnavailable
      SMS_PROVIDER: 'http',
      SMS_GATEWAY_URL: 'http://127.0.0.1:9/send',
      SMS_GATEWAY_API_KEY: 'test-key',
      SMS_GATEWAY_ATTEMPTS: '1',
      SMS_GATEWAY_TIMEOUT_MS: '500',
      SEND_ATTEMPTS: '3',
      SEND_BACKOFF_MS: '20',
    },
  })
  const conversationId = await client.conversation('+255713000002')
  const messageId = await client.send(conversationId, 'Is anyone there?')
  const queue = services.queues.queue<{ messageId: string }>(sendQueueName)
  const failed = await eventually(() => queue.failed(), (jobs) => jobs.some((job) => job.id === sendJobId(messageId)), 30_000)
  const job = failed.find((found) => found.id === sendJobId(messageId))!
  t.equal(job.attemptsMade, 3, 'every attempt was made')
  t.match(job.failedReason, /./, 'with the provider error')
  t.equal((await client.get(`/api/messaging/messages/${messageId}/`)).data.status, 'queued', 'the message is still queued, for a retry')
})
