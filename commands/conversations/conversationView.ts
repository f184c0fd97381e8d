import type { OpenConversation } from './conversationDecider.ts'

/** A conversation as the API shows it, from the aggregate's state. */
export function conversationView(conversation: OpenConversation) {
  return {
    id: conversation.conversationId,
    contact_id: conversation.contactId,
    contact_name: conversation.contactName,
    contact_phone: conversation.contactPhone,
    subject: conversation.subject,
    channel: conversation.channel,
    status: conversation.status,
    created_at: conversation.createdAt,
    updated_at: conversation.updatedAt,
  }
}
