import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { sendQueueName } from '../../app.ts'
import { creditBalance } from '../../commands/billing/smsCredits.ts'
import { campaignMessageId } from '../../commands/campaigns/campaignFanOut.ts'
import { eventually } from '../support/eventually.ts'
import { campaignOf, campaignReaches, createCampaign, importContacts, messageFates, startDeliveryApp, type DeliveryApp } from './deliverySupport.ts'

/**
 * Campaign control during delivery: pause stops new sends and resume continues; cancel drops what
 * is not sent yet and gives its credits back; a contact that opts out (or is deleted) after the
 * start gets no message.
 */

/** Calls the provider made for this campaign's messages so far. */
async function providerCalls(app: DeliveryApp, campaignId: string): Promise<number> {
  const fates = await messageFates(app.services, campaignId)
  return [...fates.events.keys()].reduce((total, id) => total + app.simulator.sendCount(id), 0)
}

t.test('campaign control during delivery', async (t) => {
  const app = await startDeliveryApp(t, {
    label: 'delivery_control',
    // slow and narrow, so that a campaign is still sending when it is paused or cancelled
    env: { PROVIDER_MAX_PER_SECOND: '40', SEND_CONCURRENCY: '4' },
  })
  const { services, client, simulator, tenantId } = app

  t.test('pause stops new sends; resume sends the rest', async (t) => {
    await importContacts(client, 120, 'pause', 0)
    const campaignId = await createCampaign(client, 'pause')
    await client.post(`/api/messaging/campaigns/${campaignId}/start/`)
    await eventually(() => providerCalls(app, campaignId), (calls) => calls >= 15, 30_000)
    await client.post(`/api/messaging/campaigns/${campaignId}/pause/`)

    // sends already past the campaign check when it paused may still finish: once no send job is
    // active, every job after that has read the pause
    const sendQueue = services.queues.queue(sendQueueName)
    await eventually(() => sendQueue.counts(), (counts) => counts.active === 0, 30_000)
    const settled = await providerCalls(app, campaignId)
    await sleep(3000)
    t.equal(await providerCalls(app, campaignId), settled, 'no new sends while paused')
    t.ok(settled < 120, `the campaign was paused mid-way (${settled} of 120 sent)`)
    t.equal((await campaignOf(client, campaignId)).status, 'paused')
    t.ok((await messageFates(services, campaignId)).unfinished.length > 0, 'messages wait, still queued')

    await client.post(`/api/messaging/campaigns/${campaignId}/resume/`)
    await campaignReaches(client, campaignId, 'completed')
    const fates = await messageFates(services, campaignId)
    t.same(fates.unfinished, [], 'every message reached an outcome')
    t.same(fates.sentTwice, [])
    t.equal(fates.cancelled, 0, 'nothing was dropped')
    t.same([...fates.events.keys()].filter((id) => simulator.sendCount(id) !== 1), [], 'each sent once')
  })

  t.test('cancel drops what is not sent yet and gives back its credits', async (t) => {
    await importContacts(client, 120, 'cancel', 1000)
    const campaignId = await createCampaign(client, 'cancel')
    const before = (await creditBalance(services.store, tenantId, services.clock.now())).availableParts
    await client.post(`/api/messaging/campaigns/${campaignId}/start/`)
    t.equal((await creditBalance(services.store, tenantId, services.clock.now())).availableParts, before - 120, 'the start reserved a part per recipient')
    await eventually(() => providerCalls(app, campaignId), (calls) => calls >= 15, 30_000)
    await client.post(`/api/messaging/campaigns/${campaignId}/cancel/`)

    const fates = await eventually(
      () => messageFates(services, campaignId),
      (found) => found.events.size === 120 && found.unfinished.length === 0,
      30_000,
    )
    const rejected = [...fates.events].filter(([, types]) => types.includes('messageFailed') && !types.includes('messageSent')).length
    t.ok(fates.cancelled > 0, `the rest was cancelled (${fates.cancelled})`)
    t.equal(fates.sent + rejected + fates.cancelled, 120, 'each message was sent, rejected or cancelled')
    const cancelledIds = [...fates.events].filter(([, types]) => types.includes('messageCancelled')).map(([id]) => id)
    t.same(cancelledIds.filter((id) => simulator.sendCount(id) > 0), [], 'no cancelled message went to the provider')
    t.same(fates.sentTwice, [])
    t.equal((await campaignOf(client, campaignId)).status, 'cancelled')

    // the cancel gives back every part not spent on a message sent by then (a send already under
    // way may still go out after it, uncharged)
    const spent = before - (await creditBalance(services.store, tenantId, services.clock.now())).availableParts
    t.ok(spent <= fates.sent, `never charged for more than was sent (${spent} spent, ${fates.sent} sent)`)
    t.ok(120 - spent >= fates.cancelled, `the parts of every cancelled message came back (${120 - spent} back, ${fates.cancelled} cancelled)`)
  })

  t.test('a contact that opts out after the start gets no message', async (t) => {
    const contacts = await importContacts(client, 40, 'optout', 2000)
    const campaignId = await createCampaign(client, 'optout')
    await client.post(`/api/messaging/campaigns/${campaignId}/start/`)
    await client.post(`/api/messaging/campaigns/${campaignId}/pause/`)
    await eventually(() => services.queues.queue(sendQueueName).counts(), (counts) => counts.active === 0, 30_000)
    // among the contacts whose messages have not gone out yet: three opt out, one is deleted
    const waiting = contacts.filter((contactId) => simulator.sendCount(campaignMessageId(campaignId, contactId)) === 0)
    t.ok(waiting.length >= 4, `${waiting.length} messages still waiting`)
    const [deleted, ...optedOut] = waiting.slice(-4)
    for (const contactId of optedOut) await client.post(`/api/messaging/contacts/${contactId}/opt-out/`, { reason: 'Stop' })
    const removed = await app.app.inject({ method: 'DELETE', url: `/api/messaging/contacts/${deleted}/`, headers: client.session.headers })
    t.equal(removed.statusCode < 300, true, 'the contact was deleted')
    await client.post(`/api/messaging/campaigns/${campaignId}/resume/`)

    await campaignReaches(client, campaignId, 'completed')
    const fates = await messageFates(services, campaignId)
    for (const contactId of [deleted!, ...optedOut]) {
      const messageId = campaignMessageId(campaignId, contactId)
      t.equal(simulator.sendCount(messageId), 0, `contact ${contactId} got nothing`)
      t.equal(fates.events.get(messageId)?.at(-1), 'messageCancelled', 'its message was cancelled')
    }
    t.equal(fates.cancelled, 4)
    t.same(fates.unfinished, [])
    const message = (await client.get(`/api/messaging/messages/${campaignMessageId(campaignId, optedOut[0]!)}/`)).data
    t.equal(message.status, 'cancelled', 'the message shows as cancelled')
    t.match(await campaignOf(client, campaignId), { status: 'completed', progress_percentage: 100 })
  })
})
