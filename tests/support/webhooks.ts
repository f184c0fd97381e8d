import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Clock } from '../../infra/clock.ts'
import { signedWebhookHeaders } from '../../infra/webhooks/webhookSignature.ts'
import { as, type Session } from './testApp.ts'

/** The tenant's webhook secret, as its admin reads it. */
export async function webhookSecretOf(app: FastifyInstance, admin: Session, tenantId = admin.tenantId): Promise<string> {
  const response = await app.inject(as(admin, { method: 'GET', url: `/api/tenants/${tenantId}/webhook-secret/` }))
  if (response.statusCode !== 200) throw new Error(`webhook secret: ${response.statusCode} ${response.body}`)
  return response.json().data.secret as string
}

export interface SignedCall {
  tenantId: string
  secret: string
  /** the body sent: an object is sent as JSON, a string as it is */
  body: unknown
  /** when it was signed (default: the clock's now) */
  signedAt?: Date
  /** headers to add or replace (undefined removes one) */
  headers?: Record<string, string | undefined>
}

/** POSTs a body signed as a provider signs it (X-Mifumo-Tenant, -Timestamp, -Signature). */
export async function postSigned(app: FastifyInstance, clock: Clock, url: string, call: SignedCall): Promise<LightMyRequestResponse> {
  const raw = typeof call.body === 'string' ? call.body : JSON.stringify(call.body)
  const headers: Record<string, string> = { 'content-type': 'application/json', ...signedWebhookHeaders(call.tenantId, call.secret, raw, call.signedAt ?? clock.now()) }
  for (const [name, value] of Object.entries(call.headers ?? {})) {
    if (value === undefined) delete headers[name.toLowerCase()]
    else headers[name.toLowerCase()] = value
  }
  return app.inject({ method: 'POST', url, headers, payload: raw })
}
