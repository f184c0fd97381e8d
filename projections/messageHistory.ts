import { sql, type Kysely, type Selectable, type Transaction } from 'kysely'
import type { CampaignOutcomeCounts } from '../commands/campaigns/campaignPorts.ts'
import type { MessageEvent, MessageStatus } from '../commands/messages/messageEvents.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import { CampaignMessageCounts, createCampaignMessageCountsTable, type CampaignMessageCountsTable } from './campaignMessageCounts.ts'
import type { Projection } from './engine/projection.ts'
import { narrow, upsertRows } from './engine/rowWrites.ts'
import { pageWithTotal, totalOfFilter } from './pageWithTotal.ts'

/**
 * message_history: one row per message with its current status and timestamps, and the outcome
 * counts of every campaign (sent, delivered, read, failed, cancelled). A cancelled message keeps
 * why in `failure_reason` (why it did not arrive) and when in `cancelled_at`.
 */
export interface MessagesTable {
  message_id: string
  tenant_id: string
  direction: 'outbound' | 'inbound'
  conversation_id: string | null
  campaign_id: string | null
  contact_id: string
  content: string
  channel: string
  status: MessageStatus
  provider_message_id: string | null
  failure_reason: string | null
  created_at: Date | string
  updated_at: Date | string
  sent_at: Date | string | null
  delivered_at: Date | string | null
  read_at: Date | string | null
  failed_at: Date | string | null
  cancelled_at: Date | string | null
  /** global position of the message's first event: a stable order for listing */
  position: number
}

export interface MessageHistoryTables {
  messages: MessagesTable
  campaign_delivery: CampaignMessageCountsTable
}

export type MessageRow = Selectable<MessagesTable>

const eventTypes = ['outboundMessageQueued', 'inboundMessageReceived', 'messageSent', 'messageDelivered', 'messageRead', 'messageFailed', 'messageCancelled'] as const satisfies readonly MessageEvent['type'][]

function apply(row: MessageRow | undefined, event: MessageEvent, position: number): MessageRow | undefined {
  const { data } = event
  switch (event.type) {
    case 'outboundMessageQueued':
    case 'inboundMessageReceived': {
      const inbound = event.type === 'inboundMessageReceived'
      return {
        message_id: data.messageId,
        tenant_id: data.tenantId,
        direction: inbound ? 'inbound' : 'outbound',
        conversation_id: data.conversationId,
        campaign_id: data.campaignId,
        contact_id: event.data.contactId,
        content: event.data.content,
        channel: event.data.channel,
        status: inbound ? 'received' : 'queued',
        provider_message_id: null,
        failure_reason: null,
        created_at: data.at,
        updated_at: data.at,
        sent_at: null,
        delivered_at: null,
        read_at: null,
        failed_at: null,
        cancelled_at: null,
        position,
      }
    }
    case 'messageSent':
      return row && { ...row, status: 'sent', sent_at: data.at, updated_at: data.at, provider_message_id: event.data.providerMessageId ?? row.provider_message_id }
    case 'messageDelivered':
      return row && { ...row, status: 'delivered', delivered_at: data.at, updated_at: data.at }
    case 'messageRead':
      return row && { ...row, status: 'read', read_at: data.at, updated_at: data.at }
    case 'messageFailed':
      return row && { ...row, status: 'failed', failed_at: data.at, failure_reason: event.data.reason, updated_at: data.at }
    case 'messageCancelled':
      return row && { ...row, status: 'cancelled', cancelled_at: data.at, failure_reason: event.data.reason, updated_at: data.at }
  }
}

async function handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void> {
  const db = trx as Transaction<MessageHistoryTables>
  const typed = events.map((event) => narrow<MessageEvent>(event))
  const ids = [...new Set(typed.map((event) => event.data.messageId))]
  const existing = await db.selectFrom('messages').selectAll().where(sql<boolean>`message_id = any(${ids}::uuid[])`).execute()
  const rows = new Map<string, MessageRow>(existing.map((row) => [row.message_id, row]))
  const counts = new CampaignMessageCounts()
  for (const event of typed) {
    const next = apply(rows.get(event.data.messageId), event, event.position)
    if (next) rows.set(next.message_id, next)
    counts.add(event)
  }
  await upsertRows(trx, 'messages', ['message_id'], ids.flatMap((id) => rows.get(id) ?? []))
  await counts.save(trx, 'campaign_delivery')
}

export const messageHistory: Projection = {
  kind: 'projection',
  name: 'message_history',
  version: 3,
  eventTypes,
  async createTables(db) {
    await db.schema
      .createTable('messages')
      .addColumn('message_id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('direction', 'text', (c) => c.notNull())
      .addColumn('conversation_id', 'uuid')
      .addColumn('campaign_id', 'uuid')
      .addColumn('contact_id', 'uuid', (c) => c.notNull())
      .addColumn('content', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('provider_message_id', 'text')
      .addColumn('failure_reason', 'text')
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('sent_at', 'timestamptz')
      .addColumn('delivered_at', 'timestamptz')
      .addColumn('read_at', 'timestamptz')
      .addColumn('failed_at', 'timestamptz')
      .addColumn('cancelled_at', 'timestamptz')
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute()
    await db.schema.createIndex('messages_by_tenant').on('messages').columns(['tenant_id', 'position']).execute()
    await db.schema.createIndex('messages_by_conversation').on('messages').columns(['conversation_id', 'position']).execute()
    await db.schema.createIndex('messages_by_campaign').on('messages').columns(['campaign_id', 'position']).execute()
    // the queued messages a restarted worker sends again
    await db.schema.createIndex('messages_queued').on('messages').columns(['position']).where(sql.ref('status'), '=', 'queued').execute()
    await createCampaignMessageCountsTable(db, 'campaign_delivery')
  },
  handle,
}

export async function campaignOutcomeCounts(db: Kysely<MessageHistoryTables>, tenantId: string, campaignId: string): Promise<CampaignOutcomeCounts> {
  const row = await db
    .selectFrom('campaign_delivery')
    .select(['sent', 'delivered', 'read', 'failed', 'cancelled'])
    .where('campaign_id', '=', campaignId)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst()
  return row ?? { sent: 0, delivered: 0, read: 0, failed: 0, cancelled: 0 }
}

/** A page of outbound messages still queued (not sent, failed or cancelled), in log order, after `afterPosition`. */
export async function queuedMessages(db: Kysely<MessageHistoryTables>, afterPosition: number, limit: number): Promise<{ messageId: string; tenantId: string; position: number }[]> {
  const rows = await db
    .selectFrom('messages')
    .select(['message_id', 'tenant_id', 'position'])
    .where('status', '=', 'queued')
    .where('position', '>', afterPosition)
    .orderBy('position')
    .limit(limit)
    .execute()
  return rows.map((row) => ({ messageId: row.message_id, tenantId: row.tenant_id, position: Number(row.position) }))
}

export interface MessageFilter {
  tenantId: string
  conversationId?: string
  campaignId?: string
  direction?: 'outbound' | 'inbound'
  status?: MessageStatus
}

/** A page of messages, oldest first, with the total count for the filter. */
export async function listMessages(db: Kysely<MessageHistoryTables>, filter: MessageFilter, page: number, pageSize: number): Promise<{ rows: MessageRow[]; count: number }> {
  let query = db.selectFrom('messages').where('tenant_id', '=', filter.tenantId)
  if (filter.conversationId) query = query.where('conversation_id', '=', filter.conversationId)
  if (filter.campaignId) query = query.where('campaign_id', '=', filter.campaignId)
  if (filter.direction) query = query.where('direction', '=', filter.direction)
  if (filter.status) query = query.where('status', '=', filter.status)
  return pageWithTotal(
    query.selectAll().select(totalOfFilter).orderBy('position').limit(pageSize).offset((page - 1) * pageSize),
    page,
    async () => (await query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()).count,
  )
}

/** One message of the tenant, or undefined when it does not exist there. */
export async function findMessage(db: Kysely<MessageHistoryTables>, tenantId: string, messageId: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('message_id', '=', messageId).where('tenant_id', '=', tenantId).executeTakeFirst()
}
