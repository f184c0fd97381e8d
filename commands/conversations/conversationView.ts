import type { ChannelName, ConversationStatus, ExistingConversation } from './conversationDecider.ts'

/**
 * A conversation as the command answers show it, from the aggregate's state. The list and detail
 * queries (queries/conversationRoutes.ts) show these same fields plus what only the read model
 * knows, the conversation's messages: message_count, unread_count, last_message_at,
 * last_message_preview.
 */
export interface ConversationView {
  id: string
  contact_id: string
  contact_name: string
  contact_phone: string | null
  subject: string
  channel: ChannelName
  status: ConversationStatus
  /** the assignee's user id */
  assigned_to: string | null
  assigned_to_name: string | null
  created_at: string
  updated_at: string
}

/** A conversation as the API shows it, from the aggregate's state. */
export function conversationView(conversation: ExistingConversation): ConversationView {
  return {
    id: conversation.conversationId,
    contact_id: conversation.contactId,
    contact_name: conversation.contactName,
    contact_phone: conversation.contactPhone,
    subject: conversation.subject,
    channel: conversation.channel,
    status: conversation.status,
    assigned_to: conversation.assignedTo?.userId ?? null,
    assigned_to_name: conversation.assignedTo?.name ?? null,
    created_at: conversation.createdAt,
    updated_at: conversation.updatedAt,
  }
}
