import type { ChannelName } from '../messages/messageDecider.ts'

/**
 * What the SMS webhooks ask of the read side (app.ts injects it): the contact's newest open
 * conversation on a channel, from the conversation inbox once it has caught up with the log
 * (or a 503, never a stale answer).
 */
export interface OpenConversationFinder {
  newestOpen(tenantId: string, contactId: string, channel: ChannelName): Promise<string | null>
}
