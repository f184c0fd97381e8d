import type { Clock } from '../../infra/clock.ts'
import type { EventStore, RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { deterministicId } from '../../infra/ids.ts'
import { systemContext } from '../commandContext.ts'
import { queueCampaignMessage } from '../messages/messageCommands.ts'
import { channelOf, type CampaignEvent } from './campaignEvents.ts'

type RecipientsAdded = Extract<CampaignEvent, { type: 'campaignRecipientsAdded' }>

/** The message id of a campaign's message to one contact: the same on every retry and restart. */
export const campaignMessageId = (campaignId: string, contactId: string): string => deterministicId('campaign-message', campaignId, contactId)

export { channelOf }

/**
 * The campaign sender: a reactor that turns each chunk of resolved recipients into one queued
 * outbound message per recipient. Message ids derive from (campaign, contact), so seeing a chunk
 * twice (a crash before the checkpoint moved) queues nothing twice. Delivery itself — a provider,
 * a queue, delivery reports — is a later stage that reads these messages.
 */
export function campaignFanOut(store: EventStore, clock: Clock, concurrency = 16) {
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
        let next = 0
        const worker = async (): Promise<void> => {
          while (next < recipients.length) {
            const recipient = recipients[next++]!
            await queueCampaignMessage(store, context, {
              messageId: campaignMessageId(campaignId, recipient.contactId),
              campaignId,
              contactId: recipient.contactId,
              to: recipient.phone,
              channel: channelOf(campaignType),
              content: messageText,
            })
          }
        }
        await Promise.all(Array.from({ length: Math.min(concurrency, recipients.length) }, worker))
      }
    },
  }
}
