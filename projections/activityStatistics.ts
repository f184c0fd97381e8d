import { type Kysely, type Transaction } from 'kysely'
import { localDayOf } from './localCalendar.ts'
import type { CampaignEvent } from '../commands/campaigns/campaignEvents.ts'
import type { ConversationEvent } from '../commands/conversations/conversationEvents.ts'
import type { MessageEvent } from '../commands/messages/messageEvents.ts'
import { localDate, startOfMonth, startOfWeek } from '../infra/calendar.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import type { Projection } from './engine/projection.ts'
import { addToCounters, CounterBatch, narrow } from './engine/rowWrites.ts'
import { createTenantZonesTable, TenantZones, tenantZone, tenantZoneEventTypes, type TenantZoneEvent, type TenantZonesTable } from './tenantZones.ts'

/**
 * activity_statistics: per tenant and local day (in the tenant's zone), the counts behind
 * GET /activity/statistics/. A request sums at most 31 daily rows; it never counts messages.
 * messages_sent counts the messages the provider accepted (messageSent) on each local day;
 * messages_received the replies received that day.
 */
export interface DailyActivityTable {
  tenant_id: string
  day: string
  messages_sent: number
  messages_received: number
  conversations_started: number
  campaigns_launched: number
}

export interface ActivityStatisticsTables {
  tenant_zones: TenantZonesTable
  daily_activity: DailyActivityTable
}

type HandledEvent =
  | TenantZoneEvent
  | Extract<MessageEvent, { type: 'messageSent' | 'inboundMessageReceived' }>
  | Extract<ConversationEvent, { type: 'conversationStarted' }>
  | Extract<CampaignEvent, { type: 'campaignStarted' }>

const eventTypes = [...tenantZoneEventTypes, 'messageSent', 'inboundMessageReceived', 'conversationStarted', 'campaignStarted'] as const satisfies readonly HandledEvent['type'][]

const COUNTER_OF = {
  messageSent: 'messages_sent',
  inboundMessageReceived: 'messages_received',
  conversationStarted: 'conversations_started',
  campaignStarted: 'campaigns_launched',
} as const

const zero = { messages_sent: 0, messages_received: 0, conversations_started: 0, campaigns_launched: 0 }

async function handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void> {
  const typed = events.map((event) => narrow<HandledEvent>(event))
  const zones = new TenantZones(trx)
  await zones.load(typed.map((event) => event.data.tenantId))
  const counters = new CounterBatch(zero)
  for (const event of typed) {
    if (event.type === 'tenantCreated' || event.type === 'tenantUpdated') {
      zones.set(event.data.tenantId, event.data.timezone)
      continue
    }
    const day = localDayOf(event.data.at, zones.zoneOf(event.data.tenantId))
    counters.add({ tenant_id: event.data.tenantId, day }, { [COUNTER_OF[event.type]]: 1 })
  }
  await zones.save()
  await addToCounters(trx, 'daily_activity', ['tenant_id', 'day'], counters.rows())
}

export const activityStatistics: Projection = {
  kind: 'projection',
  name: 'activity_statistics',
  version: 2,
  eventTypes,
  async createTables(db) {
    await createTenantZonesTable(db)
    await db.schema
      .createTable('daily_activity')
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('day', 'date', (c) => c.notNull())
      .addColumn('messages_sent', 'integer', (c) => c.notNull())
      .addColumn('messages_received', 'integer', (c) => c.notNull())
      .addColumn('conversations_started', 'integer', (c) => c.notNull())
      .addColumn('campaigns_launched', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('daily_activity_pkey', ['tenant_id', 'day'])
      .execute()
  },
  handle,
}

export type PeriodCounts = typeof zero

export interface ActivityStatistics {
  today: PeriodCounts
  this_week: PeriodCounts
  this_month: PeriodCounts
}

/** Today, this week (from Monday) and this month, in the tenant's time zone, as of `now`. */
export async function activityStatisticsFor(db: Kysely<ActivityStatisticsTables>, tenantId: string, now: Date): Promise<ActivityStatistics> {
  const zone = await tenantZone(db, tenantId)
  const today = localDate(now, zone)
  const weekStart = startOfWeek(today)
  const monthStart = startOfMonth(today)
  const from = weekStart < monthStart ? weekStart : monthStart
  const rows = await db
    .selectFrom('daily_activity')
    .select(['messages_sent', 'messages_received', 'conversations_started', 'campaigns_launched'])
    .select((eb) => eb.fn<string>('to_char', [eb.ref('day'), eb.val('YYYY-MM-DD')]).as('day_text'))
    .where('tenant_id', '=', tenantId)
    .where('day', '>=', from)
    .where('day', '<=', today)
    .execute()
  const sum = (predicate: (day: string) => boolean): PeriodCounts => {
    const total = { ...zero }
    for (const row of rows) {
      if (!predicate(row.day_text)) continue
      for (const key of Object.keys(zero) as (keyof PeriodCounts)[]) total[key] += Number(row[key])
    }
    return total
  }
  return {
    today: sum((day) => day === today),
    this_week: sum((day) => day >= weekStart),
    this_month: sum((day) => day >= monthStart),
  }
}
