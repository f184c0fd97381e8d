import { localDate } from '../infra/calendar.ts'

/**
 * localDate for the projectors, remembered per time zone and UTC minute: a replay asks for the
 * local day of every message, and the time zone database is slow to ask. Every offset in use
 * today is a whole number of minutes, so a local day never changes inside a UTC minute.
 */
const remembered = new Map<string, string>()
const MAX_REMEMBERED = 50_000
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

export function localDayOf(at: string, timeZone: string): string {
  if (!ISO_UTC.test(at)) return localDate(at, timeZone)
  const key = `${timeZone}|${at.slice(0, 16)}`
  let day = remembered.get(key)
  if (day === undefined) {
    day = localDate(at, timeZone)
    if (remembered.size >= MAX_REMEMBERED) remembered.clear()
    remembered.set(key, day)
  }
  return day
}

export function localMonthOf(at: string, timeZone: string): string {
  return localDayOf(at, timeZone).slice(0, 7)
}
