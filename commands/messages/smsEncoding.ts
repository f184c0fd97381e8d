/**
 * How many SMS parts a text needs. GSM-7 texts fit 160 characters in one part and 153 per part
 * when split (the rest carries the concatenation header); a text with any character outside the
 * GSM 03.38 alphabet is sent as UCS-2: 70 in one part, 67 per part. Characters of the GSM
 * extension table (€ [ ] { } \ ~ ^ |, form feed) take two septets. UCS-2 counts UTF-16 code units,
 * so an emoji takes two.
 */
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà'
const GSM_EXTENSION = '\f^{}\\[~]|€'

const basic = new Set(GSM_BASIC)
const extension = new Set(GSM_EXTENSION)

export type SmsEncoding = 'GSM-7' | 'UCS-2'

export interface SmsParts {
  encoding: SmsEncoding
  /** septets for GSM-7, UTF-16 code units for UCS-2 */
  units: number
  parts: number
}

export function smsParts(text: string): SmsParts {
  let septets = 0
  for (const character of text) {
    if (basic.has(character)) septets += 1
    else if (extension.has(character)) septets += 2
    else {
      const units = text.length
      return { encoding: 'UCS-2', units, parts: units === 0 ? 0 : units <= 70 ? 1 : Math.ceil(units / 67) }
    }
  }
  return { encoding: 'GSM-7', units: septets, parts: septets === 0 ? 0 : septets <= 160 ? 1 : Math.ceil(septets / 153) }
}

/** Parts a message is billed for on a channel: SMS by encoding, WhatsApp one per message. */
export function billableParts(channel: 'sms' | 'whatsapp', text: string): number {
  if (channel === 'whatsapp') return 1
  return Math.max(1, smsParts(text).parts)
}
