import { sql, type Kysely, type Selectable, type Transaction } from 'kysely'
import type { CampaignEvent } from '../commands/campaigns/campaignEvents.ts'
import type { ContactEvent } from '../commands/contacts/contactEvents.ts'
import type { MessageEvent } from '../commands/messages/messageEvents.ts'
import type { TemplateEvent } from '../commands/templates/templateEvents.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import { deterministicId } from '../infra/ids.ts'
import type { Projection } from './engine/projection.ts'
import { addToCounters, CounterBatch, narrow, upsertRows } from './engine/rowWrites.ts'

/**
 * activity_feed: the dashboard's "Recent Activity". One row per activity with the spec's title,
 * description and metadata already written, so a read is one indexed range scan; per-tenant
 * counts per type so `total_count` never counts rows. Contacts added by bulk imports in the same
 * hour (UTC) share one `contacts_added` row.
 */
export const ACTIVITY_TYPES = ['conversation_reply', 'campaign_completed', 'contact_added', 'contacts_added', 'template_approved', 'campaign_started'] as const
export type ActivityType = (typeof ACTIVITY_TYPES)[number]

/** Types that can be "live" (shown with a dot) while at most LIVE_WINDOW_MS old. */
export const LIVE_TYPES: readonly ActivityType[] = ['conversation_reply', 'campaign_started']
export const LIVE_WINDOW_MS = 5 * 60 * 1000

export interface ActivitiesTable {
  activity_id: string
  tenant_id: string
  type: ActivityType
  title: string
  description: string
  occurred_at: Date | string
  metadata: Record<string, unknown> | string
  /** global position of the latest event that wrote the row: orders activities of the same instant */
  position: number
}

export interface ActivityCountsTable {
  tenant_id: string
  type: ActivityType
  count: number
}

export interface ActivityFeedTables {
  activities: ActivitiesTable
  activity_counts: ActivityCountsTable
}

export type ActivityRow = Selectable<ActivitiesTable>

type HandledEvent =
  | Extract<ContactEvent, { type: 'contactCreated' }>
  | Extract<TemplateEvent, { type: 'templateApproved' }>
  | Extract<CampaignEvent, { type: 'campaignStarted' | 'campaignCompleted' }>
  | Extract<MessageEvent, { type: 'inboundMessageReceived' }>

const eventTypes = ['contactCreated', 'templateApproved', 'campaignStarted', 'campaignCompleted', 'inboundMessageReceived'] as const satisfies readonly HandledEvent['type'][]

/** Contact ids kept in a contacts_added activity's metadata (the count covers them all). */
export const GROUP_SAMPLE_SIZE = 5
const EXCERPT_LENGTH = 50

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  if (flat.length <= EXCERPT_LENGTH) return flat
  const cut = flat.slice(0, EXCERPT_LENGTH)
  const lastSpace = cut.lastIndexOf(' ')
  return `${(lastSpace > EXCERPT_LENGTH / 2 ? cut.slice(0, lastSpace) : cut).trimEnd()}...`
}

function capitalize(text: string, locale = 'en'): string {
  return text ? text.charAt(0).toLocaleUpperCase(locale) + text.slice(1) : text
}

/** "Kiswahili" for sw, "English" for en: the language's own name for itself. */
export function languageName(code: string): string {
  try {
    const name = new Intl.DisplayNames([code], { type: 'language' }).of(code)
    return name && name !== code ? capitalize(name, code) : code
  } catch {
    return code
  }
}

export function formatRate(rate: number): string {
  return String(Math.round(rate * 10) / 10)
}

const plural = (count: number, one: string, many: string): string => (count === 1 ? one : many)

function hourOf(at: string): string {
  return `${at.slice(0, 13)}:00:00.000Z`
}

/** The activity an event becomes, except bulk-imported contacts, which are grouped. */
function activityOf(event: Exclude<HandledEvent, { type: 'contactCreated' }> | Extract<HandledEvent, { type: 'contactCreated' }>, position: number): ActivitiesTable | null {
  switch (event.type) {
    case 'contactCreated': {
      const { data } = event
      if (data.source === 'bulk_import') return null
      const reach = data.profile.phone ?? data.profile.email ?? ''
      return {
        activity_id: `contact_${data.contactId}`,
        tenant_id: data.tenantId,
        type: 'contact_added',
        title: `${data.profile.name} added to contacts`,
        description: `New contact: ${reach}`,
        occurred_at: data.at,
        metadata: { contact_id: data.contactId, contact_name: data.profile.name, phone: data.profile.phone },
        position,
      }
    }
    case 'templateApproved': {
      const { data } = event
      return {
        activity_id: `template_${data.templateId}`,
        tenant_id: data.tenantId,
        type: 'template_approved',
        title: `${data.approvedBy.name} approved template ${data.name}`,
        description: `${capitalize(data.category)} - ${languageName(data.language)}`,
        occurred_at: data.at,
        metadata: { template_id: data.templateId, template_name: data.name, category: data.category, language: data.language, channel: data.channel },
        position,
      }
    }
    case 'campaignStarted': {
      const { data } = event
      return {
        activity_id: `camp_start_${data.campaignId}`,
        tenant_id: data.tenantId,
        type: 'campaign_started',
        title: `${data.startedBy.name} started campaign ${data.name}`,
        description: `Sending to ${data.recipientCount} ${plural(data.recipientCount, 'recipient', 'recipients')}`,
        occurred_at: data.at,
        metadata: { campaign_id: data.campaignId, campaign_name: data.name, recipient_count: data.recipientCount },
        position,
      }
    }
    case 'campaignCompleted': {
      const { data } = event
      return {
        activity_id: `camp_${data.campaignId}`,
        tenant_id: data.tenantId,
        type: 'campaign_completed',
        title: `${data.completedBy.name} completed campaign ${data.name}`,
        description: `${formatRate(data.deliveryRate)}% delivered`,
        occurred_at: data.at,
        metadata: {
          campaign_id: data.campaignId,
          campaign_name: data.name,
          delivery_rate: data.deliveryRate,
          sent_count: data.sentCount,
          delivered_count: data.deliveredCount,
        },
        position,
      }
    }
    case 'inboundMessageReceived': {
      const { data } = event
      return {
        activity_id: `msg_${data.messageId}`,
        tenant_id: data.tenantId,
        type: 'conversation_reply',
        title: `${data.contactName} replied to conversation ${data.conversationSubject}`,
        description: `New message: ${excerpt(data.content)}`,
        occurred_at: data.at,
        metadata: { conversation_id: data.conversationId, contact_name: data.contactName, conversation_subject: data.conversationSubject, message_id: data.messageId },
        position,
      }
    }
  }
}

interface ImportGroup {
  activity_id: string
  tenant_id: string
  count: number
  contacts: string[]
  occurred_at: string
  position: number
  isNew: boolean
}

function groupRow(group: ImportGroup): ActivitiesTable {
  return {
    activity_id: group.activity_id,
    tenant_id: group.tenant_id,
    type: 'contacts_added',
    title: `Added ${group.count} new ${plural(group.count, 'contact', 'contacts')}`,
    description: 'Bulk import completed',
    occurred_at: group.occurred_at,
    metadata: { count: group.count, contacts: group.contacts },
    position: group.position,
  }
}

async function handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void> {
  const db = trx as Transaction<ActivityFeedTables>
  const singles: ActivitiesTable[] = []
  const groups = new Map<string, ImportGroup>()
  const pendingGroupEvents: { id: string; tenantId: string; contactId: string; at: string; position: number }[] = []

  for (const recorded of events) {
    const event = narrow<HandledEvent>(recorded)
    if (event.type === 'contactCreated' && event.data.source === 'bulk_import') {
      const id = `contacts_${deterministicId('contacts-added', event.data.tenantId, hourOf(event.data.at))}`
      pendingGroupEvents.push({ id, tenantId: event.data.tenantId, contactId: event.data.contactId, at: event.data.at, position: recorded.position })
      continue
    }
    const activity = activityOf(event, recorded.position)
    if (activity) singles.push(activity)
  }

  if (pendingGroupEvents.length > 0) {
    const ids = [...new Set(pendingGroupEvents.map((e) => e.id))]
    const existing = await db.selectFrom('activities').selectAll().where('activity_id', 'in', ids).execute()
    for (const row of existing) {
      const metadata = (typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata) as { count: number; contacts: string[] }
      const occurred = typeof row.occurred_at === 'string' ? row.occurred_at : row.occurred_at.toISOString()
      groups.set(row.activity_id, { activity_id: row.activity_id, tenant_id: row.tenant_id, count: metadata.count, contacts: metadata.contacts, occurred_at: occurred, position: row.position, isNew: false })
    }
    for (const added of pendingGroupEvents) {
      const group = groups.get(added.id) ?? { activity_id: added.id, tenant_id: added.tenantId, count: 0, contacts: [], occurred_at: added.at, position: added.position, isNew: true }
      group.count++
      if (group.contacts.length < GROUP_SAMPLE_SIZE) group.contacts = [...group.contacts, added.contactId]
      if (added.at > group.occurred_at) group.occurred_at = added.at
      group.position = Math.max(group.position, added.position)
      groups.set(added.id, group)
    }
  }

  const counts = new CounterBatch({ count: 0 })
  if (singles.length > 0) {
    const inserted = await db
      .insertInto('activities')
      .values(singles.map((row) => ({ ...row, metadata: JSON.stringify(row.metadata) })))
      .onConflict((conflict) => conflict.column('activity_id').doNothing())
      .returning(['tenant_id', 'type'])
      .execute()
    for (const row of inserted) counts.add({ tenant_id: row.tenant_id, type: row.type }, { count: 1 })
  }
  const groupRows = [...groups.values()]
  await upsertRows(trx, 'activities', ['activity_id'], groupRows.map((group) => ({ ...groupRow(group), metadata: JSON.stringify(groupRow(group).metadata) })))
  for (const group of groupRows) if (group.isNew) counts.add({ tenant_id: group.tenant_id, type: 'contacts_added' }, { count: 1 })
  await addToCounters(trx, 'activity_counts', ['tenant_id', 'type'], counts.rows())
}

export const activityFeed: Projection = {
  kind: 'projection',
  name: 'activity_feed',
  // 2: activities_by_position, for the live stream (GET /activity/stream/)
  version: 2,
  eventTypes,
  async createTables(db) {
    await db.schema
      .createTable('activities')
      .addColumn('activity_id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
      .addColumn('metadata', 'jsonb', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute()
    await sql`create index activities_recent on activities (tenant_id, occurred_at desc, position desc)`.execute(db)
    await sql`create index activities_recent_by_type on activities (tenant_id, type, occurred_at desc, position desc)`.execute(db)
    // the live stream reads a tenant's activities written after a position (a row's position moves
    // forward when a contacts_added group grows, so it is always the position of its latest change)
    await sql`create index activities_by_position on activities (tenant_id, position)`.execute(db)
    await db.schema
      .createTable('activity_counts')
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('activity_counts_pkey', ['tenant_id', 'type'])
      .execute()
  },
  handle,
}

export interface RecentActivityQuery {
  tenantId: string
  limit: number
  type?: ActivityType
  now: Date
}

export interface RecentActivityPage {
  rows: ActivityRow[]
  hasMore: boolean
  totalCount: number
  liveCount: number
}

/** The newest activities, the tenant's total for the filter, and how many are live now. */
export async function recentActivity(db: Kysely<ActivityFeedTables>, query: RecentActivityQuery): Promise<RecentActivityPage> {
  let rowsQuery = db.selectFrom('activities').selectAll().where('tenant_id', '=', query.tenantId)
  if (query.type) rowsQuery = rowsQuery.where('type', '=', query.type)
  let countQuery = db.selectFrom('activity_counts').select((eb) => eb.fn.coalesce(eb.fn.sum<number>('count'), sql<number>`0`).as('total')).where('tenant_id', '=', query.tenantId)
  if (query.type) countQuery = countQuery.where('type', '=', query.type)
  const liveTypes = query.type ? LIVE_TYPES.filter((type) => type === query.type) : LIVE_TYPES
  const liveSince = new Date(query.now.getTime() - LIVE_WINDOW_MS)

  const [rows, total, live] = await Promise.all([
    rowsQuery.orderBy('occurred_at', 'desc').orderBy('position', 'desc').limit(query.limit + 1).execute(),
    countQuery.executeTakeFirstOrThrow(),
    liveTypes.length === 0
      ? Promise.resolve({ live: 0 })
      : db
          .selectFrom('activities')
          .select((eb) => eb.fn.countAll<number>().as('live'))
          .where('tenant_id', '=', query.tenantId)
          .where('type', 'in', liveTypes)
          .where('occurred_at', '>=', liveSince)
          .executeTakeFirstOrThrow(),
  ])
  return {
    rows: rows.slice(0, query.limit),
    hasMore: rows.length > query.limit,
    totalCount: Number(total.total),
    liveCount: Number(live.live),
  }
}

/**
 * A tenant's activities written (or, for a contacts_added group, changed) after `after`, oldest
 * change first: what the live stream sends next.
 */
export async function activitiesAfter(db: Kysely<ActivityFeedTables>, tenantId: string, after: number, limit: number): Promise<ActivityRow[]> {
  return db.selectFrom('activities').selectAll().where('tenant_id', '=', tenantId).where('position', '>', after).orderBy('position').limit(limit).execute()
}

/**
 * Where a tenant's live stream starts. With the id of the last activity a client saw: there, but
 * at most `backlog` changes back (older ones are skipped; the client has /activity/recent/ for
 * them). Without one: at the newest change, so only what comes next is sent.
 */
export async function streamStartPosition(db: Kysely<ActivityFeedTables>, tenantId: string, lastSeen: number | null, backlog: number): Promise<number> {
  if (lastSeen === null) {
    const newest = await db.selectFrom('activities').select((eb) => eb.fn.max<number>('position').as('position')).where('tenant_id', '=', tenantId).executeTakeFirst()
    return Number(newest?.position ?? 0)
  }
  const beyondBacklog = await db
    .selectFrom('activities')
    .select('position')
    .where('tenant_id', '=', tenantId)
    .where('position', '>', lastSeen)
    .orderBy('position', 'desc')
    .offset(backlog)
    .limit(1)
    .executeTakeFirst()
  return beyondBacklog ? Number(beyondBacklog.position) : lastSeen
}
