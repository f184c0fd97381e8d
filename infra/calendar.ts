/**
 * Calendar arithmetic in a time zone, without a date library: the local date of an instant, and
 * the local day, week (Monday first) and month that contain it. Dates are 'YYYY-MM-DD' strings and
 * months 'YYYY-MM', which sort and compare as text.
 */
const formatters = new Map<string, Intl.DateTimeFormat>()

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone)
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
    formatters.set(timeZone, formatter)
  }
  return formatter
}

/** The local calendar date of an instant in a zone, as 'YYYY-MM-DD'. */
export function localDate(instant: Date | string, timeZone: string): string {
  const parts = formatterFor(timeZone).formatToParts(typeof instant === 'string' ? new Date(instant) : instant)
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? ''
  return `${part('year')}-${part('month')}-${part('day')}`
}

export function localMonth(instant: Date | string, timeZone: string): string {
  return localDate(instant, timeZone).slice(0, 7)
}

/** Date arithmetic on 'YYYY-MM-DD' (calendar days, no time zone involved). */
export function addDays(date: string, days: number): string {
  const utc = new Date(`${date}T00:00:00Z`)
  utc.setUTCDate(utc.getUTCDate() + days)
  return utc.toISOString().slice(0, 10)
}

/** The Monday on or before the date (weeks start on Monday). */
export function startOfWeek(date: string): string {
  const weekday = new Date(`${date}T00:00:00Z`).getUTCDay() // 0 = Sunday
  return addDays(date, -((weekday + 6) % 7))
}

export function startOfMonth(date: string): string {
  return `${date.slice(0, 7)}-01`
}

/** The `count` months ending with the given one, oldest first: ['2026-01', …, '2026-06']. */
export function monthsEndingWith(month: string, count: number): string[] {
  const [year, monthNumber] = month.split('-').map(Number) as [number, number]
  const months: string[] = []
  for (let i = count - 1; i >= 0; i--) {
    const index = year * 12 + (monthNumber - 1) - i
    months.push(`${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`)
  }
  return months
}

const MONTH_LABELS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const

export function monthLabel(month: string): string {
  return MONTH_LABELS[Number(month.slice(5, 7)) - 1] ?? month
}
