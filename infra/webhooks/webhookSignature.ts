import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * The signature of a webhook call (delivery reports, inbound SMS), checked over the raw body:
 *
 *   X-Mifumo-Tenant:    <tenant id>
 *   X-Mifumo-Timestamp: <unix seconds when the call was signed>
 *   X-Mifumo-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *
 * The key is the tenant's webhook secret as shown to its admins (the whole `whsec_…` text, as
 * UTF-8). A call is accepted when the timestamp is within `toleranceSeconds` (default 300) of our
 * clock, either way, and one of the signatures in the header (several may be given, separated by
 * commas, while a sender moves to a rotated secret) matches one of the tenant's valid secrets.
 * Comparisons are constant-time.
 */
export const WEBHOOK_HEADERS = {
  tenant: 'x-mifumo-tenant',
  timestamp: 'x-mifumo-timestamp',
  signature: 'x-mifumo-signature',
} as const

export const DEFAULT_TOLERANCE_SECONDS = 300

const SCHEME = 'sha256='

function digest(secret: string, timestamp: string, rawBody: Buffer | string): Buffer {
  return createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(`${timestamp}.`, 'utf8')
    .update(typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody)
    .digest()
}

/** `sha256=<hex>` for a body signed at `timestampSeconds`. */
export function webhookSignature(secret: string, timestampSeconds: number, rawBody: Buffer | string): string {
  return `${SCHEME}${digest(secret, String(timestampSeconds), rawBody).toString('hex')}`
}

/** The three headers of a signed call (what a sender, the simulator's included, sets). */
export function signedWebhookHeaders(tenantId: string, secret: string, rawBody: Buffer | string, now: Date): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000)
  return {
    [WEBHOOK_HEADERS.tenant]: tenantId,
    [WEBHOOK_HEADERS.timestamp]: String(timestamp),
    [WEBHOOK_HEADERS.signature]: webhookSignature(secret, timestamp, rawBody),
  }
}

export type SignatureProblem = 'missing' | 'malformed' | 'stale' | 'mismatch'

export type SignatureCheck = { ok: true } | { ok: false; problem: SignatureProblem }

export interface SignatureInput {
  /** the tenant's secrets that may sign now (current first, then a rotated one in its grace period) */
  secrets: readonly string[]
  timestamp: string | undefined
  signature: string | undefined
  rawBody: Buffer
  now: Date
  toleranceSeconds?: number
}

/** Whether a call's headers prove it was signed, recently, with one of the secrets. */
export function checkWebhookSignature(input: SignatureInput): SignatureCheck {
  const { timestamp, signature } = input
  if (!timestamp || !signature) return { ok: false, problem: 'missing' }
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, problem: 'malformed' }
  const given = signature
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.startsWith(SCHEME))
    .map((part) => part.slice(SCHEME.length))
    .filter((hex) => /^[0-9a-f]{64}$/i.test(hex))
    .map((hex) => Buffer.from(hex, 'hex'))
  if (given.length === 0) return { ok: false, problem: 'malformed' }
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS
  if (Math.abs(input.now.getTime() / 1000 - Number(timestamp)) > tolerance) return { ok: false, problem: 'stale' }
  // every secret against every signature, without stopping early: the time taken does not tell which matched
  let matched = false
  for (const secret of input.secrets) {
    const expected = digest(secret, timestamp, input.rawBody)
    for (const candidate of given) {
      if (timingSafeEqual(expected, candidate)) matched = true
    }
  }
  return matched ? { ok: true } : { ok: false, problem: 'mismatch' }
}
