import type { Clock } from '../../infra/clock.ts'
import type { EventStore, RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { deterministicId } from '../../infra/ids.ts'
import { systemContext } from '../commandContext.ts'
import { queueCampaignMessages } from '../messages/messageCommands.ts'
import { channelOf, type CampaignEvent } from './campaignEvents.ts'

type RecipientsAdded = Extract<CampaignEvent, { type: 'campaignRecipientsAdded' }>

/** The message id of a campaign's message to one contact: the same on every retry and restart. */
export const campaignMessageId = (campaignId: string, contactId: string): string => deterministicId('campaign-message', campaignId, contactId)

export { channelOf }

/**
 * messages per append: one round trip and one transaction for each group (a 20,000-recipient
 * campaign is forty appends, not two hundred)
 */
const MESSAGES_PER_APPEND = 500

/**
 * The campaign sender: a reactor that turns each chunk of resolved recipients into one queued
 * outbound message per recipient, appended five hundred at a time (a few appends at once). Message
 * ids derive from (campaign, contact), so seeing a chunk twice (a crash before the checkpoint
 * moved) queues nothing twice. Delivery — the send queue, the provider, delivery reports — reads
 * these messages.
 */
export function campaignFanOut(store: EventStore, clock: Clock, concurrency = 4) {
  return {
    kind: 'reactor' as const,
    name: 'campaign_fan_out',
    version: 1,
    eventTypes: ['campaignRecipientsAdded'] as const,
    async handle(events: readonly RecordedEvent[]): Promise<void> {
      for (const recorded of events) {
        const event = recorded as unknown as RecipientsAdded & RecordedEvent
        const { campaignId, tenantId, recipients, messageText, campaignType } = event.data
        const context = systemContext(tenantId, clock.now(), { id: recorded.id, metadata: recorded.metadata })
        const inputs = recipients.map((recipient) => ({
          messageId: campaignMessageId(campaignId, recipient.contactId),
          campaignId,
          contactId: recipient.contactId,
          to: recipient.phone,
          channel: channelOf(campaignType),
          content: messageText,
        }))
        const groups: (typeof inputs)[] = []
        for (let start = 0; start < inputs.length; start += MESSAGES_PER_APPEND) groups.push(inputs.slice(start, start + MESSAGES_PER_APPEND))
        let next = 0
        const worker = async (): Promise<void> => {
          while (next < groups.length) await queueCampaignMessages(store, context, groups[next++]!)
        }
        await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker))
      }
    },
  }
}
