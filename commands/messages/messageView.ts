import type { ExistingMessage } from './messageDecider.ts'

/** A message as the API shows it, from the aggregate's state (inbound messages have no delivery times). */
export function messageView(message: ExistingMessage) {
  const outbound = message.direction === 'outbound' ? message : null
  return {
    id: message.messageId,
    conversation_id: message.conversationId,
    campaign_id: message.campaignId,
    contact_id: message.contactId,
    direction: message.direction,
    channel: message.channel,
    content: message.content,
    status: message.status,
    created_at: message.createdAt,
    updated_at: message.updatedAt,
    sent_at: outbound?.sentAt ?? null,
    delivered_at: outbound?.deliveredAt ?? null,
    read_at: outbound?.readAt ?? null,
    failed_at: outbound?.failedAt ?? null,
    failure_reason: outbound?.failureReason ?? null,
  }
}
