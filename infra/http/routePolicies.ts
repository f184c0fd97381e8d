/**
 * Per-route policies, declared in each route's `config` and enforced by plugins in infra/http:
 *
 *   app.post('/api/messaging/contacts/', { schema, config: { rateLimit: 'contacts', idempotent: true } }, handler)
 *
 * - `rateLimit`: which limit of the spec applies, per user (or per client address when anonymous).
 *   Routes without one get `default`. The numbers are in rateLimit.ts.
 * - `idempotent`: a create that honours the `Idempotency-Key` header (same key + same body within
 *   24 hours replays the first answer and appends nothing; same key + another body is a 422).
 */
export const RATE_LIMIT_GROUPS = {
  /** register, login, refresh, password reset: 5 per minute */
  auth: { limit: 5, windowSeconds: 60 },
  /** sending SMS: 10 per minute */
  sms_send: { limit: 10, windowSeconds: 60 },
  /** contact operations: 100 per minute */
  contacts: { limit: 100, windowSeconds: 60 },
  /** campaign operations: 50 per minute */
  campaigns: { limit: 50, windowSeconds: 60 },
  /** bulk operations (imports): 10 per minute */
  bulk: { limit: 10, windowSeconds: 60 },
  /** GET /activity/recent/: 60 per minute */
  activity_recent: { limit: 60, windowSeconds: 60 },
  /** GET /performance/overview/: 30 per minute */
  performance: { limit: 30, windowSeconds: 60 },
  /** GET /activity/statistics/: 30 per minute */
  statistics: { limit: 30, windowSeconds: 60 },
  /** every other endpoint: 100 per minute */
  default: { limit: 100, windowSeconds: 60 },
} as const

export type RateLimitGroup = keyof typeof RATE_LIMIT_GROUPS

declare module 'fastify' {
  interface FastifyContextConfig {
    rateLimit?: RateLimitGroup | false
    idempotent?: boolean
  }
}
