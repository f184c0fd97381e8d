import { addDays, localDate, startOfMonth } from '../../infra/calendar.ts'

/**
 * Billing periods are calendar months in the tenant's time zone. Their boundaries are given as
 * ISO 8601 instants with the zone's offset at that moment (`2026-03-01T00:00:00+03:00`), so they
 * read as local times and still parse as exact instants.
 */
export interface BillingPeriod {
  /** 'YYYY-MM' */
  month: string
  /** 'YYYY-MM-DD', local */
  firstDay: string
  lastDay: string
  /** local midnight starting the first day */
  start: string
  /** the last second of the last day (the period is [start, end + 1 s)) */
  end: string
  timezone: string
}

const partsFormatters = new Map<string, Intl.DateTimeFormat>()

function partsFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = partsFormatters.get(timeZone)
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
    partsFormatters.set(timeZone, formatter)
  }
  return formatter
}

/** The zone's offset from UTC at an instant, in milliseconds (east positive), whole seconds. */
export function zoneOffsetMs(instant: Date, timeZone: string): number {
  const parts = partsFormatter(timeZone).formatToParts(instant)
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0)
  const asUtc = Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'))
  const wholeSeconds = Math.floor(instant.getTime() / 1000) * 1000
  return asUtc - wholeSeconds
}

const DAY_MS = 86_400_000

/**
 * The instant at which a local date begins in the zone. Around a daylight-saving change the day
 * begins under the offset before or the one after it: of the two readings of midnight, the
 * earliest that falls on the date (where midnight is skipped, the moment the clocks jump).
 */
export function startOfLocalDay(date: string, timeZone: string): Date {
  const naive = Date.parse(`${date}T00:00:00Z`)
  const readings = [naive - DAY_MS, naive + DAY_MS].map((around) => naive - zoneOffsetMs(new Date(around), timeZone))
  const onTheDate = readings.filter((instant) => localDate(new Date(instant), timeZone) === date)
  return new Date(Math.min(...(onTheDate.length > 0 ? onTheDate : readings)))
}

const pad = (value: number): string => String(value).padStart(2, '0')

/** An instant as local time in the zone with the zone's offset: '2026-03-31T23:59:59+03:00'. */
export function isoInZone(instant: Date, timeZone: string): string {
  const offsetMinutes = Math.round(zoneOffsetMs(instant, timeZone) / 60_000)
  const local = new Date(Math.floor(instant.getTime() / 1000) * 1000 + offsetMinutes * 60_000)
  const sign = offsetMinutes < 0 ? '-' : '+'
  const abs = Math.abs(offsetMinutes)
  return `${local.toISOString().slice(0, 19)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
}

/** The first day of the month after the one of `date`. */
function firstDayOfNextMonth(date: string): string {
  return startOfMonth(addDays(startOfMonth(date), 31))
}

/** The billing period of a month ('YYYY-MM') in a zone. */
export function billingPeriodOf(month: string, timeZone: string): BillingPeriod {
  const firstDay = `${month}-01`
  const nextFirstDay = firstDayOfNextMonth(firstDay)
  const start = startOfLocalDay(firstDay, timeZone)
  const next = startOfLocalDay(nextFirstDay, timeZone)
  return {
    month,
    firstDay,
    lastDay: addDays(nextFirstDay, -1),
    start: isoInZone(start, timeZone),
    end: isoInZone(new Date(next.getTime() - 1000), timeZone),
    timezone: timeZone,
  }
}

/** The billing period containing `now`. */
export function currentBillingPeriod(now: Date, timeZone: string): BillingPeriod {
  return billingPeriodOf(localDate(now, timeZone).slice(0, 7), timeZone)
}

/** Calendar days left in the period, today (local) included; 0 once it has ended. */
export function daysRemaining(period: BillingPeriod, now: Date): number {
  const today = localDate(now, period.timezone)
  if (today > period.lastDay) return 0
  const from = today < period.firstDay ? period.firstDay : today
  return Math.round((Date.parse(`${period.lastDay}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1
}
