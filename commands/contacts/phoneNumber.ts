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
