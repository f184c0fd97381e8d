import { sql, type Kysely, type Transaction } from 'kysely'
import { localMonthOf } from './localCalendar.ts'
import type { CampaignEvent } from '../commands/campaigns/campaignEvents.ts'
import type { ConversationEvent } from '../commands/conversations/conversationEvents.ts'
import type { MessageEvent } from '../commands/messages/messageEvents.ts'
import { localDate, monthLabel, monthsEndingWith } from '../infra/calendar.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import type { Projection } from './engine/projection.ts'
import { addToCounters, CounterBatch, narrow } from './engine/rowWrites.ts'
import { createTenantZonesTable, TenantZones, tenantZone, tenantZoneEventTypes, type TenantZoneEvent, type TenantZonesTable } from './tenantZones.ts'

/**
 * performance_overview: running totals per tenant and message volume per local month, behind
 * GET /performance/overview/. "Sent" means the provider accepted the message (messageSent), and a
 * delivery is credited to the month the message was sent in, so each month's delivery rate is
 * "of what the provider accepted that month, how much arrived".
 *
 * Definitions (also in the README):
 * - total_messages: outbound + inbound messages;
 * - delivery_rate: messages delivered (or read) ÷ messages sent (messageSent), in %;
 * - message_volume chart: messages created (queued outbound and received inbound) per local month;
 * - delivery_rates chart: per local month, the deliveries of the messages sent that month ÷ the
 *   messages sent that month;
 * - response_rate: conversations with at least one inbound reply ÷ conversations, in %;
 * - active_conversations: conversations that are open;
 * - campaign_success_rate: completed ÷ (completed + cancelled + failed) campaigns, in %.
 */
export interface TenantTotalsTable {
  tenant_id: string
  outbound: number
  inbound: number
  /** messages the provider accepted (messageSent) */
  sent: number
  delivered: number
  conversations: number
  conversations_replied: number
  conversations_open: number
  campaigns_started: number
  campaigns_completed: number
  campaigns_cancelled: number
  campaigns_failed: number
}

export interface MonthlyVolumeTable {
  tenant_id: string
  month: string
  messages: number
  outbound: number
  /** messages the provider accepted in this month */
  sent: number
  /** deliveries of the messages sent in this month (whenever they were reported) */
  delivered: number
}

/** The month each message was sent in (messageSent), to credit its delivery to that month. */
export interface SentMonthsTable {
  message_id: string
  month: string
}

export interface RepliedConversationsTable {
  conversation_id: string
}

export interface PerformanceOverviewTables {
  tenant_zones: TenantZonesTable
  tenant_totals: TenantTotalsTable
  monthly_volume: MonthlyVolumeTable
  sent_months: SentMonthsTable
  replied_conversations: RepliedConversationsTable
}

type HandledEvent =
  | TenantZoneEvent
  | Extract<MessageEvent, { type: 'outboundMessageQueued' | 'inboundMessageReceived' | 'messageSent' | 'messageDelivered' }>
  | ConversationEvent
  | Extract<CampaignEvent, { type: 'campaignStarted' | 'campaignCompleted' | 'campaignCancelled' }>

const eventTypes = [
  ...tenantZoneEventTypes,
  'outboundMessageQueued',
  'inboundMessageReceived',
  'messageSent',
  'messageDelivered',
  'conversationStarted',
  'conversationClosed',
  'conversationReopened',
  'campaignStarted',
  'campaignCompleted',
  'campaignCancelled',
] as const satisfies readonly HandledEvent['type'][]

const zeroTotals = {
  outbound: 0,
  inbound: 0,
  sent: 0,
  delivered: 0,
  conversations: 0,
  conversations_replied: 0,
  conversations_open: 0,
  campaigns_started: 0,
  campaigns_completed: 0,
  campaigns_cancelled: 0,
  campaigns_failed: 0,
}
const zeroMonth = { messages: 0, outbound: 0, sent: 0, delivered: 0 }

async function handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void> {
  const db = trx as Transaction<PerformanceOverviewTables>
  const typed = events.map((event) => narrow<HandledEvent>(event))
  const zones = new TenantZones(trx)
  await zones.load(typed.map((event) => event.data.tenantId))

  // months of messages sent in earlier batches, for deliveries reported in this one
  const deliveredIds = typed.flatMap((event) => (event.type === 'messageDelivered' ? [event.data.messageId] : []))
  const sentMonth = new Map<string, string>()
  if (deliveredIds.length > 0) {
    const rows = await db.selectFrom('sent_months').selectAll().where(sql<boolean>`message_id = any(${deliveredIds}::uuid[])`).execute()
    for (const row of rows) sentMonth.set(row.message_id, row.month)
  }

  const totals = new CounterBatch(zeroTotals)
  const months = new CounterBatch(zeroMonth)
  const newSentMonths: SentMonthsTable[] = []
  const replies = new Map<string, string>()

  for (const event of typed) {
    const tenant = { tenant_id: event.data.tenantId }
    switch (event.type) {
      case 'tenantCreated':
      case 'tenantUpdated':
        zones.set(event.data.tenantId, event.data.timezone)
        break
      case 'outboundMessageQueued': {
        const month = localMonthOf(event.data.at, zones.zoneOf(event.data.tenantId))
        totals.add(tenant, { outbound: 1 })
        months.add({ ...tenant, month }, { messages: 1, outbound: 1 })
        break
      }
      case 'messageSent': {
        const month = localMonthOf(event.data.at, zones.zoneOf(event.data.tenantId))
        totals.add(tenant, { sent: 1 })
        months.add({ ...tenant, month }, { sent: 1 })
        sentMonth.set(event.data.messageId, month)
        newSentMonths.push({ message_id: event.data.messageId, month })
        break
      }
      case 'inboundMessageReceived': {
        const month = localMonthOf(event.data.at, zones.zoneOf(event.data.tenantId))
        totals.add(tenant, { inbound: 1 })
        months.add({ ...tenant, month }, { messages: 1 })
        if (event.data.conversationId) replies.set(event.data.conversationId, event.data.tenantId)
        break
      }
      case 'messageDelivered': {
        totals.add(tenant, { delivered: 1 })
        const month = sentMonth.get(event.data.messageId) ?? localMonthOf(event.data.at, zones.zoneOf(event.data.tenantId))
        months.add({ ...tenant, month }, { delivered: 1 })
        break
      }
      case 'conversationStarted':
        totals.add(tenant, { conversations: 1, conversations_open: 1 })
        break
      case 'conversationClosed':
        totals.add(tenant, { conversations_open: -1 })
        break
      case 'conversationReopened':
        totals.add(tenant, { conversations_open: 1 })
        break
      case 'campaignStarted':
        totals.add(tenant, { campaigns_started: 1 })
        break
      case 'campaignCompleted':
        totals.add(tenant, { campaigns_completed: 1 })
        break
      case 'campaignCancelled':
        totals.add(tenant, { campaigns_cancelled: 1 })
        break
    }
  }

  if (replies.size > 0) {
    const firstReplies = await db
      .insertInto('replied_conversations')
      .values([...replies.keys()].map((conversation_id) => ({ conversation_id })))
      .onConflict((conflict) => conflict.column('conversation_id').doNothing())
      .returning('conversation_id')
      .execute()
    for (const row of firstReplies) totals.add({ tenant_id: replies.get(row.conversation_id)! }, { conversations_replied: 1 })
  }
  if (newSentMonths.length > 0) {
    await db.insertInto('sent_months').values(newSentMonths).onConflict((conflict) => conflict.column('message_id').doNothing()).execute()
  }
  await zones.save()
  await addToCounters(trx, 'tenant_totals', ['tenant_id'], totals.rows())
  await addToCounters(trx, 'monthly_volume', ['tenant_id', 'month'], months.rows())
}

export const performanceOverview: Projection = {
  kind: 'projection',
  name: 'performance_overview',
  version: 2,
  eventTypes,
  async createTables(db) {
    await createTenantZonesTable(db)
    let totals = db.schema.createTable('tenant_totals').addColumn('tenant_id', 'uuid', (c) => c.primaryKey())
    for (const column of Object.keys(zeroTotals)) totals = totals.addColumn(column, 'integer', (c) => c.notNull())
    await totals.execute()
    await db.schema
      .createTable('monthly_volume')
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('month', 'text', (c) => c.notNull())
      .addColumn('messages', 'integer', (c) => c.notNull())
      .addColumn('outbound', 'integer', (c) => c.notNull())
      .addColumn('sent', 'integer', (c) => c.notNull())
      .addColumn('delivered', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('monthly_volume_pkey', ['tenant_id', 'month'])
      .execute()
    await db.schema
      .createTable('sent_months')
      .addColumn('message_id', 'uuid', (c) => c.primaryKey())
      .addColumn('month', 'text', (c) => c.notNull())
      .execute()
    await db.schema.createTable('replied_conversations').addColumn('conversation_id', 'uuid', (c) => c.primaryKey()).execute()
  },
  handle,
}

export const CHART_MONTHS = 6

const percent = (part: number, whole: number): number => (whole > 0 ? Math.round((part / whole) * 1000) / 10 : 0)

export interface PerformanceOverview {
  metrics: {
    total_messages: number
    delivery_rate: number
    response_rate: number
    active_conversations: number
    campaign_success_rate: number
  }
  charts: {
    message_volume: { labels: string[]; data: number[] }
    delivery_rates: { labels: string[]; data: number[] }
  }
  coming_soon: boolean
}

/** The overview as of `now`: charts cover the six months ending with the tenant's current month. */
export async function performanceOverviewFor(db: Kysely<PerformanceOverviewTables>, tenantId: string, now: Date): Promise<PerformanceOverview> {
  const zone = await tenantZone(db, tenantId)
  const monthKeys = monthsEndingWith(localDate(now, zone).slice(0, 7), CHART_MONTHS)
  const [totalsRow, monthRows] = await Promise.all([
    db.selectFrom('tenant_totals').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst(),
    db.selectFrom('monthly_volume').selectAll().where('tenant_id', '=', tenantId).where('month', 'in', monthKeys).execute(),
  ])
  const totals = totalsRow ?? { tenant_id: tenantId, ...zeroTotals }
  const byMonth = new Map(monthRows.map((row) => [row.month, row]))
  const finishedCampaigns = totals.campaigns_completed + totals.campaigns_cancelled + totals.campaigns_failed
  const labels = monthKeys.map(monthLabel)
  return {
    metrics: {
      total_messages: totals.outbound + totals.inbound,
      delivery_rate: percent(totals.delivered, totals.sent),
      response_rate: percent(totals.conversations_replied, totals.conversations),
      active_conversations: totals.conversations_open,
      campaign_success_rate: percent(totals.campaigns_completed, finishedCampaigns),
    },
    charts: {
      message_volume: { labels, data: monthKeys.map((month) => byMonth.get(month)?.messages ?? 0) },
      delivery_rates: { labels, data: monthKeys.map((month) => percent(byMonth.get(month)?.delivered ?? 0, byMonth.get(month)?.sent ?? 0)) },
    },
    coming_soon: totals.outbound + totals.inbound + totals.conversations + totals.campaigns_started === 0,
  }
}
