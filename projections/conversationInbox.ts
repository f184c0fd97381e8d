import { sql, type Kysely, type Selectable, type Transaction } from 'kysely'
import type { ContactEvent } from '../commands/contacts/contactEvents.ts'
import type { ConversationEvent } from '../commands/conversations/conversationEvents.ts'
import type { MessageEvent } from '../commands/messages/messageEvents.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import type { Projection } from './engine/projection.ts'
import { narrow, upsertRows } from './engine/rowWrites.ts'
import { pageWithTotal, totalOfFilter } from './pageWithTotal.ts'

/**
 * conversation_inbox: one row per conversation with its status, assignee and what its messages
 * add up to, behind GET /conversations/ and /conversations/{id}/. Definitions:
 * - message_count: the conversation's messages, outbound and inbound;
 * - unread_count: inbound messages since the last outbound one (replies nobody has answered
 *   yet); an outbound message sets it back to 0;
 * - last_message_at / last_message_preview: the conversation's latest message (by log order) and
 *   the start of its text;
 * - contact_name / contact_phone: the contact's, kept current as the contact is edited;
 * - updated_at: the time of the conversation's own last event (start, close, reopen,
 *   assignment), as in the command answers; messages move last_message_at instead;
 * - last_activity_at: the latest of created_at and last_message_at, the list's order.
 */
export interface ConversationsTable {
  conversation_id: string
  tenant_id: string
  contact_id: string
  contact_name: string
  contact_phone: string | null
  subject: string
  channel: 'sms' | 'whatsapp'
  status: 'open' | 'closed'
  assigned_to: string | null
  assigned_to_name: string | null
  message_count: number
  unread_count: number
  last_message_at: Date | string | null
  last_message_preview: string | null
  last_activity_at: Date | string
  /** global position of the event behind last_activity_at: orders activities of the same instant */
  activity_position: number
  created_at: Date | string
  updated_at: Date | string
}

export interface ConversationInboxTables {
  conversations: ConversationsTable
}

export type ConversationRow = Selectable<ConversationsTable>

type HandledEvent =
  | ConversationEvent
  | Extract<MessageEvent, { type: 'outboundMessageQueued' | 'inboundMessageReceived' }>
  | Extract<ContactEvent, { type: 'contactUpdated' }>

const eventTypes = [
  'conversationStarted',
  'conversationClosed',
  'conversationReopened',
  'conversationAssigned',
  'conversationUnassigned',
  'outboundMessageQueued',
  'inboundMessageReceived',
  'contactUpdated',
] as const satisfies readonly HandledEvent['type'][]

export const PREVIEW_LENGTH = 100

/** The start of a message's text on one line, at most PREVIEW_LENGTH characters. */
export function messagePreview(content: string): string {
  const flat = content.replace(/\s+/g, ' ').trim()
  return flat.length <= PREVIEW_LENGTH ? flat : `${flat.slice(0, PREVIEW_LENGTH - 3).trimEnd()}...`
}

function apply(row: ConversationRow | undefined, event: Exclude<HandledEvent, { type: 'contactUpdated' }>, position: number): ConversationRow | undefined {
  switch (event.type) {
    case 'conversationStarted': {
      const { data } = event
      return {
        conversation_id: data.conversationId,
        tenant_id: data.tenantId,
        contact_id: data.contactId,
        contact_name: data.contactName,
        contact_phone: data.contactPhone,
        subject: data.subject,
        channel: data.channel,
        status: 'open',
        assigned_to: null,
        assigned_to_name: null,
        message_count: 0,
        unread_count: 0,
        last_message_at: null,
        last_message_preview: null,
        last_activity_at: data.at,
        activity_position: position,
        created_at: data.at,
        updated_at: data.at,
      }
    }
    case 'conversationClosed':
      return row && { ...row, status: 'closed', updated_at: event.data.at }
    case 'conversationReopened':
      return row && { ...row, status: 'open', updated_at: event.data.at }
    case 'conversationAssigned':
      return row && { ...row, assigned_to: event.data.assignee.userId, assigned_to_name: event.data.assignee.name, updated_at: event.data.at }
    case 'conversationUnassigned':
      return row && { ...row, assigned_to: null, assigned_to_name: null, updated_at: event.data.at }
    case 'outboundMessageQueued':
    case 'inboundMessageReceived': {
      if (!row) return row
      const { data } = event
      return {
        ...row,
        message_count: row.message_count + 1,
        unread_count: event.type === 'inboundMessageReceived' ? row.unread_count + 1 : 0,
        last_message_at: data.at,
        last_message_preview: messagePreview(data.content),
        last_activity_at: data.at,
        activity_position: position,
      }
    }
  }
}

const conversationIdOf = (event: HandledEvent): string | null => (event.type === 'contactUpdated' ? null : event.data.conversationId)

async function handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void> {
  const db = trx as Transaction<ConversationInboxTables>
  const typed = events.map((event) => narrow<HandledEvent>(event))
  const ids = [...new Set(typed.flatMap((event) => conversationIdOf(event) ?? []))]
  const renamedContacts = [...new Set(typed.flatMap((event) => (event.type === 'contactUpdated' ? [event.data.contactId] : [])))]
  // every row an event of the batch can touch: its conversations, and those of renamed contacts
  const existing = await db
    .selectFrom('conversations')
    .selectAll()
    .where((eb) => eb.or([sql<boolean>`conversation_id = any(${ids}::uuid[])`, sql<boolean>`contact_id = any(${renamedContacts}::uuid[])`]))
    .execute()
  const rows = new Map<string, ConversationRow>(existing.map((row) => [row.conversation_id, row]))
  const touched = new Set<string>()
  for (const event of typed) {
    if (event.type === 'contactUpdated') {
      const { contactId, tenantId, profile } = event.data
      for (const row of rows.values()) {
        if (row.contact_id !== contactId || row.tenant_id !== tenantId) continue
        if (row.contact_name === profile.name && row.contact_phone === profile.phone) continue
        rows.set(row.conversation_id, { ...row, contact_name: profile.name, contact_phone: profile.phone })
        touched.add(row.conversation_id)
      }
      continue
    }
    const conversationId = event.data.conversationId
    if (!conversationId) continue // a campaign's message belongs to no conversation
    const next = apply(rows.get(conversationId), event, event.position)
    if (next) {
      rows.set(conversationId, next)
      touched.add(conversationId)
    }
  }
  await upsertRows(trx, 'conversations', ['conversation_id'], [...touched].map((id) => rows.get(id)!))
}

export const conversationInbox: Projection = {
  kind: 'projection',
  name: 'conversation_inbox',
  version: 1,
  eventTypes,
  async createTables(db) {
    await db.schema
      .createTable('conversations')
      .addColumn('conversation_id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('contact_id', 'uuid', (c) => c.notNull())
      .addColumn('contact_name', 'text', (c) => c.notNull())
      .addColumn('contact_phone', 'text')
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('assigned_to', 'uuid')
      .addColumn('assigned_to_name', 'text')
      .addColumn('message_count', 'integer', (c) => c.notNull())
      .addColumn('unread_count', 'integer', (c) => c.notNull())
      .addColumn('last_message_at', 'timestamptz')
      .addColumn('last_message_preview', 'text')
      .addColumn('last_activity_at', 'timestamptz', (c) => c.notNull())
      .addColumn('activity_position', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .execute()
    await db.schema.createIndex('conversations_by_activity').on('conversations').columns(['tenant_id', 'last_activity_at', 'activity_position']).execute()
    await db.schema.createIndex('conversations_by_contact').on('conversations').columns(['contact_id']).execute()
  },
  handle,
}

export interface ConversationFilter {
  tenantId: string
  status?: ConversationsTable['status']
  contactId?: string
  assignedTo?: string
  /** part of the subject or the contact's name, any case */
  search?: string
}

/** `text` as a LIKE pattern that matches it literally anywhere. */
function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`
}

/** A page of the tenant's conversations, newest activity first, with the total count for the filter. */
export async function listConversations(
  db: Kysely<ConversationInboxTables>,
  filter: ConversationFilter,
  page: number,
  pageSize: number,
): Promise<{ rows: ConversationRow[]; count: number }> {
  let query = db.selectFrom('conversations').where('tenant_id', '=', filter.tenantId)
  if (filter.status) query = query.where('status', '=', filter.status)
  if (filter.contactId) query = query.where('contact_id', '=', filter.contactId)
  if (filter.assignedTo) query = query.where('assigned_to', '=', filter.assignedTo)
  const search = filter.search?.trim()
  if (search) {
    const pattern = containsPattern(search)
    query = query.where((eb) => eb.or([eb('subject', 'ilike', pattern), eb('contact_name', 'ilike', pattern)]))
  }
  return pageWithTotal(
    query
      .selectAll()
      .select(totalOfFilter)
      .orderBy('last_activity_at', 'desc')
      .orderBy('activity_position', 'desc')
      .limit(pageSize)
      .offset((page - 1) * pageSize),
    page,
    async () => (await query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()).count,
  )
}

/** One conversation of the tenant, or undefined when it does not exist there. */
export async function findConversation(db: Kysely<ConversationInboxTables>, tenantId: string, conversationId: string): Promise<ConversationRow | undefined> {
  return db.selectFrom('conversations').selectAll().where('conversation_id', '=', conversationId).where('tenant_id', '=', tenantId).executeTakeFirst()
}
