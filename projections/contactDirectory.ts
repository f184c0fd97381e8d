import { sql, type Kysely, type Selectable, type Transaction } from 'kysely'
import type { ContactEvent } from '../commands/contacts/contactEvents.ts'
import { keyHintOf } from '../commands/contacts/contactCommands.ts'
import type { ContactDirectoryLookups } from '../commands/contacts/contactPorts.ts'
import type { Recipient } from '../commands/campaigns/campaignEvents.ts'
import type { MessageEvent } from '../commands/messages/messageEvents.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import type { Projection } from './engine/projection.ts'
import { narrow, upsertRows } from './engine/rowWrites.ts'
import { pageWithTotal, totalOfFilter } from './pageWithTotal.ts'

/**
 * contact_directory: one row per contact with its current profile, opt-in state and when it was
 * last messaged. Serves the contact list and details, recipient resolution for campaigns and
 * segment counts.
 *
 * v2: indexes for the list's filters: the tenant's listed (not deleted) contacts newest first, by
 * phone and by email (bulk imports' key hints), a GIN index on tags (`@>` for the list's tag filter, `&&` for criteria) and one on attributes
 * (`@>` for criteria). Search is a case-insensitive substring match (ILIKE) over name, email and
 * phone, scanned within the tenant: a trigram index would need the pg_trgm extension, which the
 * embedded database does not have.
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
  version: 2,
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
    await db.schema
      .createIndex('contacts_listed')
      .on('contacts')
      .columns(['tenant_id', 'created_at desc', 'contact_id desc'])
      .where(sql.ref('deleted_at'), 'is', null)
      .execute()
    await db.schema.createIndex('contacts_by_phone').on('contacts').columns(['tenant_id', 'phone']).where(sql.ref('deleted_at'), 'is', null).execute()
    await db.schema.createIndex('contacts_by_email').on('contacts').columns(['tenant_id', 'email']).where(sql.ref('deleted_at'), 'is', null).execute()
    await db.schema.createIndex('contacts_by_tags').on('contacts').using('gin').column('tags').execute()
    await db.schema.createIndex('contacts_by_attributes').on('contacts').using('gin').expression(sql`attributes jsonb_path_ops`).execute()
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

export interface ContactListFilter {
  tenantId: string
  /** case-insensitive substring of the name, the email or the phone number */
  search?: string
  isActive?: boolean
  isOptedIn?: boolean
  /** contacts carrying every one of these tags (normalized: lowercase) */
  tags?: readonly string[]
}

const likePattern = (text: string): string => `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`

/**
 * The phone-number forms of a search: a query made of digits (and `+`, spaces, dots, dashes,
 * parentheses) matches phone numbers containing its digits; one starting with a 0 (a local
 * number, `0712…`) also matches without that 0 (`+255712…`).
 */
function phoneSearchPatterns(search: string): string[] {
  if (!/^[+\d\s().-]+$/.test(search)) return []
  const digits = search.replace(/\D/g, '')
  if (digits === '') return []
  const forms = [digits]
  if (digits.length > 1 && digits.startsWith('0')) forms.push(digits.replace(/^0+/, ''))
  return forms.filter(Boolean).map(likePattern)
}

/** The tenant's listed contacts (not deleted) matching the filter, newest first, one page of them. */
export async function listContacts(db: Kysely<ContactDirectoryTables>, filter: ContactListFilter, page: number, pageSize: number): Promise<{ rows: ContactRow[]; count: number }> {
  let query = db.selectFrom('contacts').where('tenant_id', '=', filter.tenantId).where('deleted_at', 'is', null)
  if (filter.isActive !== undefined) query = query.where('is_active', '=', filter.isActive)
  if (filter.isOptedIn !== undefined) query = query.where('is_opted_in', '=', filter.isOptedIn)
  if (filter.tags && filter.tags.length > 0) query = query.where(sql<boolean>`tags @> ${sql.val([...filter.tags])}::text[]`)
  const search = filter.search?.trim()
  if (search) {
    const pattern = likePattern(search)
    const phones = phoneSearchPatterns(search)
    query = query.where((eb) =>
      eb.or([
        eb('name', 'ilike', pattern),
        eb('email', 'ilike', pattern),
        eb('phone', 'ilike', pattern),
        ...phones.map((phone) => eb('phone', 'like', phone)),
      ]),
    )
  }
  return pageWithTotal(
    query.selectAll().select(totalOfFilter).orderBy('created_at', 'desc').orderBy('contact_id', 'desc').limit(pageSize).offset((page - 1) * pageSize),
    page,
    async () => (await query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()).count,
  )
}

/** One listed contact of the tenant, or undefined when it does not exist there or was deleted. */
export async function findContact(db: Kysely<ContactDirectoryTables>, tenantId: string, contactId: string): Promise<ContactRow | undefined> {
  return db
    .selectFrom('contacts')
    .selectAll()
    .where('contact_id', '=', contactId)
    .where('tenant_id', '=', tenantId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()
}

/** When the contact was last messaged, as far as the read model knows yet (null when never). */
export async function lastContactedAt(db: Kysely<ContactDirectoryTables>, tenantId: string, contactId: string): Promise<string | null> {
  const row = await db
    .selectFrom('contacts')
    .select('last_contacted_at')
    .where('contact_id', '=', contactId)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst()
  return row?.last_contacted_at ? new Date(row.last_contacted_at).toISOString() : null
}

/** The tenant's non-deleted contacts holding these phones and emails, keyed as keyHintOf does. */
export async function keyHolders(db: Kysely<ContactDirectoryTables>, tenantId: string, phones: readonly string[], emails: readonly string[]): Promise<Map<string, string>> {
  const holders = new Map<string, string>()
  if (phones.length === 0 && emails.length === 0) return holders
  const rows = await db
    .selectFrom('contacts')
    .select(['contact_id', 'phone', 'email'])
    .where('tenant_id', '=', tenantId)
    .where('deleted_at', 'is', null)
    .where((eb) => eb.or([sql<boolean>`phone = any(${sql.val([...phones])}::text[])`, sql<boolean>`email = any(${sql.val([...emails])}::text[])`]))
    .execute()
  const wantedPhones = new Set(phones)
  const wantedEmails = new Set(emails)
  for (const row of rows) {
    if (row.phone && wantedPhones.has(row.phone)) holders.set(keyHintOf('phone', row.phone), row.contact_id)
    if (row.email && wantedEmails.has(row.email)) holders.set(keyHintOf('email', row.email), row.contact_id)
  }
  return holders
}

/** The contact commands' lookups (commands/contacts/contactPorts.ts), over this read model as it stands. */
export function contactDirectoryLookups(db: Kysely<ContactDirectoryTables>): ContactDirectoryLookups {
  return {
    lastContactedAt: (tenantId, contactId) => lastContactedAt(db, tenantId, contactId),
    keyHolders: (tenantId, phones, emails) => keyHolders(db, tenantId, phones, emails),
  }
}
