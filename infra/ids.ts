import { createHash, randomUUID } from 'node:crypto'

export const newId = (): string => randomUUID()

/**
 * A UUID derived from a namespace and a name (the RFC 9562 version-5 layout over SHA-1): the same
 * inputs always give the same id, so retried work (a campaign's message to one recipient, the
 * activity of one import hour) lands on the same stream or row instead of a new one.
 */
export function deterministicId(namespace: string, ...parts: string[]): string {
  const hash = createHash('sha1').update(namespace).update('\u0000').update(parts.join('\u0000')).digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (value: string): boolean => UUID_PATTERN.test(value)
