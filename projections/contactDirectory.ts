import { sql, type Kysely, type Selectable, type Transaction } from 'kysely'
import type { ContactEvent } from '../commands/contacts/contactEvents.ts'
import type { Recipient } from '../commands/campaigns/campaignEvents.ts'
import type { MessageEvent } from '../commands/messages/messageEvents.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import type { Projection } from './engine/projection.ts'
import { narrow, upsertRows } from './engine/rowWrites.ts'

/**
 * contact_directory: one row per contact with its current profile, opt-in state and when it was
 * last messaged. Serves recipient resolution for campaigns and, later, the contact list.
 */
export interface ContactsTable {
  contact_id: string
  tenant_id: string
  name: string
  phone: string | null
  email: string | null
  tags: string[]
  attributes: Record<string, string | number | boolean>
  is_active: boolean
  is_opted_in: boolean
  opt_in_at: Date | string | null
  opt_out_at: Date | string | null
  opt_out_reason: string | null
  created_at: Date | string
  updated_at: Date | string
  deleted_at: Date | string | null
  last_contacted_at: Date | string | null
}

export interface ContactDirectoryTables {
  contacts: ContactsTable
}

export type ContactRow = Selectable<ContactsTable>

type HandledEvent = ContactEvent | Extract<MessageEvent, { type: 'outboundMessageQueued' }>

const eventTypes = ['contactCreated', 'contactUpdated', 'contactOptedIn', 'contactOptedOut', 'contactDeleted', 'outboundMessageQueued'] as const satisfies readonly HandledEvent['type'][]

function contactIdOf(event: HandledEvent): string {
  return event.data.contactId
}

function later(a: Date | string | null, b: string): string {
  if (a === null) return b
  const previous = typeof a === 'string' ? a : a.toISOString()
  return previous > b ? previous : b
}

function apply(row: ContactRow | undefined, event: HandledEvent): ContactRow | undefined {
  switch (event.type) {
    case 'contactCreated': {
      const { profile } = event.data
      return {
        contact_id: event.data.contactId,
        tenant_id: event.data.tenantId,
        name: profile.name,
        phone: profile.phone,
        email: profile.email,
        tags: profile.tags,
        attributes: profile.attributes,
        is_active: profile.isActive,
        is_opted_in: false,
        opt_in_at: null,
        opt_out_at: null,
        opt_out_reason: null,
        created_at: event.data.at,
        updated_at: event.data.at,
        deleted_at: null,
        last_contacted_at: null,
      }
    }
    case 'contactUpdated': {
      if (!row) return row
      const { profile } = event.data
      return { ...row, name: profile.name, phone: profile.phone, email: profile.email, tags: profile.tags, attributes: profile.attributes, is_active: profile.isActive, updated_at: event.data.at }
    }
    case 'contactOptedIn':
      return row && { ...row, is_opted_in: true, opt_in_at: event.data.at, updated_at: event.data.at }
    case 'contactOptedOut':
      return row && { ...row, is_opted_in: false, opt_out_at: event.data.at, opt_out_reason: event.data.reason, updated_at: event.data.at }
    case 'contactDeleted':
      return row && { ...row, deleted_at: event.data.at, updated_at: event.data.at }
    case 'outboundMessageQueued':
      return row && { ...row, last_contacted_at: later(row.last_contacted_at, event.data.at) }
  }
}

async function handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void> {
  const db = trx as Transaction<ContactDirectoryTables>
  const typed = events.map((event) => narrow<HandledEvent>(event))
  const ids = [...new Set(typed.map(contactIdOf))]
  const existing = await db.selectFrom('contacts').selectAll().where(sql<boolean>`contact_id = any(${ids}::uuid[])`).execute()
  const rows = new Map<string, ContactRow>(existing.map((row) => [row.contact_id, row]))
  for (const event of typed) {
    const next = apply(rows.get(contactIdOf(event)), event)
    if (next) rows.set(next.contact_id, next)
  }
  const touched = ids.flatMap((id) => {
    const row = rows.get(id)
    return row ? [{ ...row, attributes: JSON.stringify(row.attributes) }] : []
  })
  await upsertRows(trx, 'contacts', ['contact_id'], touched)
}

export const contactDirectory: Projection = {
  kind: 'projection',
  name: 'contact_directory',
  version: 1,
  eventTypes,
  async createTables(db) {
    await db.schema
      .createTable('contacts')
      .addColumn('contact_id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('phone', 'text')
      .addColumn('email', 'text')
      .addColumn('tags', sql`text[]`, (c) => c.notNull())
      .addColumn('attributes', 'jsonb', (c) => c.notNull())
      .addColumn('is_active', 'boolean', (c) => c.notNull())
      .addColumn('is_opted_in', 'boolean', (c) => c.notNull())
      .addColumn('opt_in_at', 'timestamptz')
      .addColumn('opt_out_at', 'timestamptz')
      .addColumn('opt_out_reason', 'text')
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('deleted_at', 'timestamptz')
      .addColumn('last_contacted_at', 'timestamptz')
      .execute()
    await db.schema.createIndex('contacts_by_tenant').on('contacts').columns(['tenant_id', 'created_at']).execute()
  },
  handle,
}

/**
 * The contacts among `contactIds` that can receive messages: the tenant's, not deleted, active,
 * opted in, with a phone number. In the order given, without duplicates.
 */
export async function eligibleRecipients(db: Kysely<ContactDirectoryTables>, tenantId: string, contactIds: readonly string[]): Promise<Recipient[]> {
  const ids = [...new Set(contactIds)]
  if (ids.length === 0) return []
  const rows = await db
    .selectFrom('contacts')
    .select(['contact_id', 'phone'])
    .where('tenant_id', '=', tenantId)
    .where(sql<boolean>`contact_id = any(${ids}::uuid[])`)
    .where('deleted_at', 'is', null)
    .where('is_active', '=', true)
    .where('is_opted_in', '=', true)
    .where('phone', 'is not', null)
    .execute()
  const phoneById = new Map(rows.map((row) => [row.contact_id, row.phone!]))
  return ids.flatMap((contactId) => {
    const phone = phoneById.get(contactId)
    return phone ? [{ contactId, phone }] : []
  })
}
