import { sql, type Kysely, type Selectable, type Transaction } from 'kysely'
import { campaignFacts, type CampaignEvent, type CampaignFacts } from '../commands/campaigns/campaignEvents.ts'
import type { CampaignStatus } from '../commands/campaigns/campaignStatus.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import {
  CampaignMessageCounts,
  countedMessageEventTypes,
  createCampaignMessageCountsTable,
  isCountedMessageEvent,
  type CampaignMessageCountsTable,
  type CountedMessageEvent,
} from './campaignMessageCounts.ts'
import type { Projection } from './engine/projection.ts'
import { narrow, upsertRows } from './engine/rowWrites.ts'
import { pageWithTotal, totalOfFilter } from './pageWithTotal.ts'

/**
 * campaign_board: the campaign list and details. One row per campaign with its definition, status
 * and times (folded from the campaign's events), and the counts of its messages (folded from
 * message events that carry its id: sent (accepted by the provider), delivered, read, failed,
 * cancelled), kept as counters so each event adds exactly once.
 */
export interface BoardCampaignsTable {
  campaign_id: string
  tenant_id: string
  name: string
  description: string
  campaign_type: string
  message_text: string
  template_id: string | null
  status: CampaignStatus
  scheduled_at: Date | string | null
  started_at: Date | string | null
  completed_at: Date | string | null
  /** eligible recipients: resolved for the last definition before the start, resolved at start after */
  total_recipients: number
  estimated_cost: number
  currency: string | null
  /** parts billed per message and the price of one part (0 for campaigns recorded before pricing) */
  billable_parts: number
  price_per_part: number
  is_recurring: boolean
  recurring_schedule: Record<string, unknown> | string
  settings: Record<string, unknown> | string
  created_by: string | null
  created_by_name: string
  created_at: Date | string
  updated_at: Date | string
  target_contact_count: number
  target_segment_names: string[]
  deleted_at: Date | string | null
  /** global position of campaignCreated: the list's order, newest first */
  position: number | string
}

export interface CampaignBoardTables {
  campaigns: BoardCampaignsTable
  campaign_message_counts: CampaignMessageCountsTable
}

export type BoardCampaignRow = Selectable<BoardCampaignsTable>
export type CampaignBoardRow = BoardCampaignRow & Omit<Selectable<CampaignMessageCountsTable>, 'campaign_id' | 'tenant_id'>

type HandledEvent = Exclude<CampaignEvent, { type: 'campaignRecipientsAdded' }> | CountedMessageEvent

const campaignEventTypes = [
  'campaignCreated',
  'campaignUpdated',
  'campaignScheduled',
  'campaignUnscheduled',
  'campaignStarted',
  'campaignPaused',
  'campaignResumed',
  'campaignCancelled',
  'campaignCompleted',
  'campaignDeleted',
] as const satisfies readonly CampaignEvent['type'][]

const eventTypes = [...campaignEventTypes, ...countedMessageEventTypes] as const satisfies readonly HandledEvent['type'][]

/** The row's definition columns from campaignCreated / campaignUpdated. */
function definitionColumns(facts: CampaignFacts, previous: BoardCampaignRow | undefined) {
  return {
    name: facts.name,
    description: facts.description,
    campaign_type: facts.campaignType,
    message_text: facts.messageText,
    template_id: facts.templateId,
    scheduled_at: facts.scheduledAt,
    total_recipients: facts.totalRecipients ?? previous?.total_recipients ?? 0,
    estimated_cost: facts.cost?.estimatedCost ?? previous?.estimated_cost ?? 0,
    currency: facts.cost?.currency ?? previous?.currency ?? null,
    billable_parts: facts.cost?.billableParts ?? previous?.billable_parts ?? 0,
    price_per_part: facts.cost?.pricePerPart ?? previous?.price_per_part ?? 0,
    is_recurring: facts.isRecurring,
    recurring_schedule: facts.recurringSchedule,
    settings: facts.settings,
    target_contact_count: facts.targetContactIds.length,
    target_segment_names: facts.targetSegments.map((segment) => segment.name),
  }
}

function apply(row: BoardCampaignRow | undefined, event: Exclude<HandledEvent, CountedMessageEvent>, position: number): BoardCampaignRow | undefined {
  const { data } = event
  if (event.type === 'campaignCreated') {
    return {
      campaign_id: data.campaignId,
      tenant_id: data.tenantId,
      ...definitionColumns(campaignFacts(event.data), undefined),
      status: 'draft',
      started_at: null,
      completed_at: null,
      created_by: event.data.createdBy.userId,
      created_by_name: event.data.createdBy.name,
      created_at: data.at,
      updated_at: data.at,
      deleted_at: null,
      position,
    }
  }
  if (!row) return row
  const touched = { ...row, updated_at: data.at }
  switch (event.type) {
    case 'campaignUpdated':
      return { ...touched, ...definitionColumns(campaignFacts(event.data), row) }
    case 'campaignScheduled':
      return { ...touched, status: 'scheduled', scheduled_at: event.data.scheduledAt }
    case 'campaignUnscheduled':
      return { ...touched, status: 'draft', scheduled_at: null }
    case 'campaignStarted': {
      const { cost } = event.data
      return {
        ...touched,
        status: 'running',
        started_at: data.at,
        total_recipients: event.data.recipientCount,
        ...(cost
          ? { estimated_cost: cost.estimatedCost, currency: cost.currency, billable_parts: cost.billableParts, price_per_part: cost.pricePerPart }
          : {}),
      }
    }
    case 'campaignPaused':
      return { ...touched, status: 'paused' }
    case 'campaignResumed':
      return { ...touched, status: 'running' }
    case 'campaignCancelled':
      return { ...touched, status: 'cancelled' }
    case 'campaignCompleted':
      return { ...touched, status: 'completed', completed_at: data.at }
    case 'campaignDeleted':
      return { ...touched, deleted_at: data.at }
  }
}

async function handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void> {
  const db = trx as Transaction<CampaignBoardTables>
  const typed = events.map((event) => narrow<HandledEvent>(event))
  const counts = new CampaignMessageCounts()
  const campaignEvents: (Exclude<HandledEvent, CountedMessageEvent> & { position: number })[] = []
  for (const event of typed) {
    if (!isCountedMessageEvent(event)) campaignEvents.push(event)
    else counts.add(event)
  }

  const ids = [...new Set(campaignEvents.map((event) => event.data.campaignId))]
  if (ids.length > 0) {
    const existing = await db.selectFrom('campaigns').selectAll().where(sql<boolean>`campaign_id = any(${ids}::uuid[])`).execute()
    const rows = new Map<string, BoardCampaignRow>(existing.map((row) => [row.campaign_id, row]))
    for (const event of campaignEvents) {
      const next = apply(rows.get(event.data.campaignId), event, event.position)
      if (next) rows.set(next.campaign_id, next)
    }
    const touched = ids.flatMap((id) => {
      const row = rows.get(id)
      return row ? [{ ...row, settings: JSON.stringify(row.settings), recurring_schedule: JSON.stringify(row.recurring_schedule) }] : []
    })
    await upsertRows(trx, 'campaigns', ['campaign_id'], touched)
  }
  await counts.save(trx, 'campaign_message_counts')
}

export const campaignBoard: Projection = {
  kind: 'projection',
  name: 'campaign_board',
  version: 3,
  eventTypes,
  async createTables(db) {
    await db.schema
      .createTable('campaigns')
      .addColumn('campaign_id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('campaign_type', 'text', (c) => c.notNull())
      .addColumn('message_text', 'text', (c) => c.notNull())
      .addColumn('template_id', 'uuid')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('scheduled_at', 'timestamptz')
      .addColumn('started_at', 'timestamptz')
      .addColumn('completed_at', 'timestamptz')
      .addColumn('total_recipients', 'integer', (c) => c.notNull())
      .addColumn('estimated_cost', 'double precision', (c) => c.notNull())
      .addColumn('currency', 'text')
      .addColumn('billable_parts', 'integer', (c) => c.notNull())
      .addColumn('price_per_part', 'double precision', (c) => c.notNull())
      .addColumn('is_recurring', 'boolean', (c) => c.notNull())
      .addColumn('recurring_schedule', 'jsonb', (c) => c.notNull())
      .addColumn('settings', 'jsonb', (c) => c.notNull())
      .addColumn('created_by', 'uuid')
      .addColumn('created_by_name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('target_contact_count', 'integer', (c) => c.notNull())
      .addColumn('target_segment_names', sql`text[]`, (c) => c.notNull())
      .addColumn('deleted_at', 'timestamptz')
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute()
    await db.schema.createIndex('campaigns_by_tenant').on('campaigns').columns(['tenant_id', 'position']).execute()
    await createCampaignMessageCountsTable(db, 'campaign_message_counts')
  },
  handle,
}

export interface CampaignListFilter {
  tenantId: string
  status?: CampaignStatus
  campaignType?: string
}

function campaignsWithCounts(db: Kysely<CampaignBoardTables>, tenantId: string) {
  return db
    .selectFrom('campaigns')
    .leftJoin('campaign_message_counts', 'campaign_message_counts.campaign_id', 'campaigns.campaign_id')
    .where('campaigns.tenant_id', '=', tenantId)
    .where('campaigns.deleted_at', 'is', null)
}

const withCounts = <T extends ReturnType<typeof campaignsWithCounts>>(query: T) =>
  query
    .selectAll('campaigns')
    .select((eb) => [
      eb.fn.coalesce('campaign_message_counts.sent', eb.lit(0)).as('sent'),
      eb.fn.coalesce('campaign_message_counts.delivered', eb.lit(0)).as('delivered'),
      eb.fn.coalesce('campaign_message_counts.read', eb.lit(0)).as('read'),
      eb.fn.coalesce('campaign_message_counts.failed', eb.lit(0)).as('failed'),
      eb.fn.coalesce('campaign_message_counts.cancelled', eb.lit(0)).as('cancelled'),
    ])

/** A page of the tenant's campaigns (deleted ones never), newest first, with the total count for the filter. */
export async function listCampaigns(
  db: Kysely<CampaignBoardTables>,
  filter: CampaignListFilter,
  page: number,
  pageSize: number,
): Promise<{ rows: CampaignBoardRow[]; count: number }> {
  let query = campaignsWithCounts(db, filter.tenantId)
  if (filter.status) query = query.where('campaigns.status', '=', filter.status)
  if (filter.campaignType) query = query.where('campaigns.campaign_type', '=', filter.campaignType)
  return pageWithTotal(
    withCounts(query)
      .select(totalOfFilter)
      .orderBy('campaigns.position', 'desc')
      .limit(pageSize)
      .offset((page - 1) * pageSize),
    page,
    async () => (await query.select((eb) => eb.fn.countAll<number | string>().as('count')).executeTakeFirstOrThrow()).count,
  )
}

/** One campaign of the tenant, or undefined (missing, deleted or another tenant's). */
export async function findCampaign(db: Kysely<CampaignBoardTables>, tenantId: string, campaignId: string): Promise<CampaignBoardRow | undefined> {
  return withCounts(campaignsWithCounts(db, tenantId).where('campaigns.campaign_id', '=', campaignId)).executeTakeFirst()
}

export interface WatchedCampaign {
  campaignId: string
  tenantId: string
  status: CampaignStatus
  scheduledAt: string | null
  startedAt: string | null
}

/**
 * Campaigns of every tenant in the given statuses (deleted ones never), a page at a time in id
 * order after `afterId`: what the delivery workers re-arm at start-up (scheduled starts, timeouts).
 */
export async function campaignsInStatus(db: Kysely<CampaignBoardTables>, statuses: readonly CampaignStatus[], afterId: string | null, limit: number): Promise<WatchedCampaign[]> {
  let query = db
    .selectFrom('campaigns')
    .select(['campaign_id', 'tenant_id', 'status', 'scheduled_at', 'started_at'])
    .where('status', 'in', [...statuses])
    .where('deleted_at', 'is', null)
  if (afterId) query = query.where('campaign_id', '>', afterId)
  const rows = await query.orderBy('campaign_id').limit(limit).execute()
  const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString())
  return rows.map((row) => ({ campaignId: row.campaign_id, tenantId: row.tenant_id, status: row.status, scheduledAt: iso(row.scheduled_at), startedAt: iso(row.started_at) }))
}
