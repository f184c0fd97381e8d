import type { Kysely } from 'kysely'
import type { OpenConversationFinder } from '../commands/sms/smsPorts.ts'
import { TemporarilyUnavailable } from '../infra/errors.ts'
import type { EventStore } from '../infra/eventStore/eventStore.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { conversationInbox, type ConversationInboxTables } from '../projections/conversationInbox.ts'

/**
 * The SMS webhooks' port onto the conversation inbox: first waits until the inbox has seen every
 * event appended before the call (a conversation started a moment ago counts), then answers the
 * contact's open conversation on the channel with the newest activity.
 */
export function openConversationFinder(deps: { db: Kysely<any>; engine: ProjectionEngine; store: EventStore; timeoutMs: number }): OpenConversationFinder {
  const inbox = readModel<ConversationInboxTables>(deps.db, conversationInbox)
  return {
    async newestOpen(tenantId, contactId, channel) {
      const reached = await deps.engine.waitFor(conversationInbox.name, await deps.store.headPosition(), deps.timeoutMs)
      if (!reached) throw new TemporarilyUnavailable(`The ${conversationInbox.name} read model is catching up; please retry`)
      const row = await inbox
        .selectFrom('conversations')
        .select('conversation_id')
        .where('tenant_id', '=', tenantId)
        .where('contact_id', '=', contactId)
        .where('channel', '=', channel)
        .where('status', '=', 'open')
        .orderBy('last_activity_at', 'desc')
        .orderBy('activity_position', 'desc')
        .limit(1)
        .executeTakeFirst()
      return row?.conversation_id ?? null
    },
  }
}
