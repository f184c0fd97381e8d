import type { Kysely, Transaction } from 'kysely'
import { localDayOf } from './localCalendar.ts'
import type { PeriodUsage } from '../commands/billing/allowance.ts'
import type { MessageEvent } from '../commands/messages/messageEvents.ts'
import { billableParts } from '../commands/messages/smsEncoding.ts'
import { addDays } from '../infra/calendar.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import type { Projection } from './engine/projection.ts'
import { addToCounters, CounterBatch, narrow } from './engine/rowWrites.ts'
import { createTenantZonesTable, TenantZones, tenantZoneEventTypes, type TenantZoneEvent, type TenantZonesTable } from './tenantZones.ts'

/**
 * billing_usage: billable message parts per tenant and local month (the billing period) and per
 * local day, in the tenant's time zone. A part is counted when its message is queued (accepted
 * for sending), from the message's content and channel: SMS by encoding (GSM-7 160/153, UCS-2
 * 70/67), WhatsApp one per message. Inbound messages cost nothing.
 */
export type UsageCounters = {
  sms_messages: number
  sms_parts: number
  whatsapp_messages: number
}

export interface UsageMonthsTable extends UsageCounters {
  tenant_id: string
  /** 'YYYY-MM', local */
  month: string
}

export interface UsageDaysTable extends UsageCounters {
  tenant_id: string
  /** 'YYYY-MM-DD', local */
  day: string
}

export interface BillingUsageTables {
  tenant_zones: TenantZonesTable
  usage_months: UsageMonthsTable
  usage_days: UsageDaysTable
}

type HandledEvent = TenantZoneEvent | Extract<MessageEvent, { type: 'outboundMessageQueued' }>

const eventTypes = [...tenantZoneEventTypes, 'outboundMessageQueued'] as const satisfies readonly HandledEvent['type'][]

const zero: UsageCounters = { sms_messages: 0, sms_parts: 0, whatsapp_messages: 0 }

async function handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void> {
  const typed = events.map((event) => narrow<HandledEvent>(event))
  const zones = new TenantZones(trx)
  await zones.load(typed.map((event) => event.data.tenantId))
  const months = new CounterBatch(zero)
  const days = new CounterBatch(zero)
  for (const event of typed) {
    if (event.type === 'tenantCreated' || event.type === 'tenantUpdated') {
      zones.set(event.data.tenantId, event.data.timezone)
      continue
    }
    const { tenantId, channel, content, at } = event.data
    const day = localDayOf(at, zones.zoneOf(tenantId))
    const deltas: Partial<UsageCounters> = channel === 'sms' ? { sms_messages: 1, sms_parts: billableParts('sms', content) } : { whatsapp_messages: 1 }
    months.add({ tenant_id: tenantId, month: day.slice(0, 7) }, deltas)
    days.add({ tenant_id: tenantId, day }, deltas)
  }
  await zones.save()
  await addToCounters(trx, 'usage_months', ['tenant_id', 'month'], months.rows())
  await addToCounters(trx, 'usage_days', ['tenant_id', 'day'], days.rows())
}

export const billingUsage: Projection = {
  kind: 'projection',
  name: 'billing_usage',
  version: 1,
  eventTypes,
  async createTables(db) {
    await createTenantZonesTable(db)
    for (const [table, period] of [
      ['usage_months', 'month'],
      ['usage_days', 'day'],
    ] as const) {
      await db.schema
        .createTable(table)
        .addColumn('tenant_id', 'uuid', (c) => c.notNull())
        .addColumn(period, 'text', (c) => c.notNull())
        .addColumn('sms_messages', 'integer', (c) => c.notNull())
        .addColumn('sms_parts', 'integer', (c) => c.notNull())
        .addColumn('whatsapp_messages', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint(`${table}_pkey`, ['tenant_id', period])
        .execute()
    }
  },
  handle,
}

const usageOf = (row: UsageCounters | undefined): PeriodUsage =>
  row ? { smsMessages: Number(row.sms_messages), smsParts: Number(row.sms_parts), whatsappMessages: Number(row.whatsapp_messages) } : { smsMessages: 0, smsParts: 0, whatsappMessages: 0 }

/** What the tenant sent in a local month ('YYYY-MM'). */
export async function monthUsage(db: Kysely<BillingUsageTables>, tenantId: string, month: string): Promise<PeriodUsage> {
  const row = await db
    .selectFrom('usage_months')
    .select(['sms_messages', 'sms_parts', 'whatsapp_messages'])
    .where('tenant_id', '=', tenantId)
    .where('month', '=', month)
    .executeTakeFirst()
  return usageOf(row)
}

export interface DayUsage extends PeriodUsage {
  day: string
}

/** Usage of every local day from `firstDay` to `lastDay` ('YYYY-MM-DD', both included), days without messages as zeros. */
export async function dailyUsage(db: Kysely<BillingUsageTables>, tenantId: string, firstDay: string, lastDay: string): Promise<DayUsage[]> {
  const rows = await db
    .selectFrom('usage_days')
    .select(['day', 'sms_messages', 'sms_parts', 'whatsapp_messages'])
    .where('tenant_id', '=', tenantId)
    .where('day', '>=', firstDay)
    .where('day', '<=', lastDay)
    .execute()
  const byDay = new Map(rows.map((row) => [row.day, row]))
  const result: DayUsage[] = []
  for (let day = firstDay; day <= lastDay; day = addDays(day, 1)) result.push({ day, ...usageOf(byDay.get(day)) })
  return result
}
