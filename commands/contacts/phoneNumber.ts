import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/min'

export type { CountryCode }

/**
 * E.164 normalization. International forms (`+255 712 345 678`, `00255…`, `255712…`) and local
 * forms (`0712 345 678`, read in the tenant's default country) all become `+255712345678`.
 * A number is accepted when its length is possible for its country; ranges not yet allocated are
 * accepted too, since allocation tables go stale faster than this service is released.
 */
export function normalizePhone(raw: string, defaultCountry: CountryCode): string | null {
  const trimmed = raw.trim()
  if (!/^[+\d\s().-]+$/.test(trimmed)) return null
  const international = trimmed.startsWith('00') ? `+${trimmed.slice(2)}` : trimmed
  const parsed = parsePhoneNumberFromString(international, defaultCountry)
  if (!parsed || !parsed.isPossible()) return null
  return parsed.number
}

/** `+…` or `00…`: a number that names its country, read the same whatever the default country. */
export function isInternationalForm(raw: string): boolean {
  return /^\s*(\+|00)/.test(raw)
}

export interface PhoneDetails {
  e164: string
  /** ISO 3166 code of the number's country, when the numbering plan tells */
  country: string | null
  /** as dialled within the country: '0712 345 678' */
  nationalFormat: string
  /** '+255 712 345 678' */
  internationalFormat: string
  /** 'mobile', 'fixed_line', 'toll_free'…; null when the number's range is not known */
  type: string | null
}

/**
 * What a phone number is, for the number check of the SMS page: null exactly when normalizePhone
 * refuses it, otherwise its E.164 form, country, formats and line type (from the full metadata,
 * which only this check loads).
 */
export async function describePhone(raw: string, defaultCountry: CountryCode): Promise<PhoneDetails | null> {
  const e164 = normalizePhone(raw, defaultCountry)
  if (e164 === null) return null
  const { parsePhoneNumberFromString: parseWithTypes } = await import('libphonenumber-js/max')
  const parsed = parseWithTypes(e164)
  if (!parsed) return null
  const type = parsed.getType()
  return {
    e164,
    country: parsed.country ?? null,
    nationalFormat: parsed.formatNational(),
    internationalFormat: parsed.formatInternational(),
    type: type ? type.toLowerCase() : null,
  }
}
