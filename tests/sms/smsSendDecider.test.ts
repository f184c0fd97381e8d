import t from 'tap'
import { fold } from '../../commands/decider.ts'
import { messageDecider, type MessageCommand } from '../../commands/messages/messageDecider.ts'

/**
 * The message decider's part of POST /sms/send: a message outside any conversation and campaign,
 * carrying its batch and the sender id the request asked for; other messages carry neither.
 */
const now = new Date('2026-03-10T09:00:00.000Z')
const queue = (origin?: { batchId: string; senderId: string | null }): MessageCommand => ({
  type: 'queueOutbound',
  refs: { messageId: 'm-1', tenantId: 't-1', conversationId: null, campaignId: null },
  conversationStatus: null,
  recipient: { contactId: 'c-1', to: '+255712345678', optedOut: false, deleted: false },
  channel: 'sms',
  content: 'Hello',
  sentBy: { userId: 'u-1', name: 'David Ochieng' },
  now,
  ...(origin ? { origin } : {}),
})

t.test('a batch message records its batch and sender id', async (t) => {
  const events = messageDecider.decide(queue({ batchId: 'b-1', senderId: 'MIFUMO' }), messageDecider.initialState)
  t.same(events, [
    {
      type: 'outboundMessageQueued',
      data: {
        messageId: 'm-1',
        tenantId: 't-1',
        conversationId: null,
        campaignId: null,
        contactId: 'c-1',
        to: '+255712345678',
        channel: 'sms',
        content: 'Hello',
        sentBy: { userId: 'u-1', name: 'David Ochieng' },
        at: now.toISOString(),
        batchId: 'b-1',
        senderId: 'MIFUMO',
      },
    },
  ])
  const state = fold(messageDecider.evolve, messageDecider.initialState, events)
  t.match(state, { status: 'queued', direction: 'outbound', conversationId: null, campaignId: null, batchId: 'b-1', senderId: 'MIFUMO' })
})

t.test('other messages carry no batch: the event is as before, the state says null', async (t) => {
  const events = messageDecider.decide(queue(), messageDecider.initialState)
  t.notOk('batchId' in events[0]!.data)
  t.notOk('senderId' in events[0]!.data)
  t.match(fold(messageDecider.evolve, messageDecider.initialState, events), { batchId: null, senderId: null })
})
