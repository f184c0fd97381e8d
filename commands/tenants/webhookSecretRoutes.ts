import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import { NotFound } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { DEFAULT_TOLERANCE_SECONDS } from '../../infra/webhooks/webhookSignature.ts'
import type { WebhookSecret, WebhookSecretStore } from '../../infra/webhooks/webhookSecrets.ts'
import { callerUser } from '../users/requestContext.ts'
import { findTenant, requireAdmin } from './tenantCommands.ts'

export interface WebhookSecretRoutesOptions {
  store: EventStore
  clock: Clock
  secrets: WebhookSecretStore
}

const TenantParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

function secretView(secret: WebhookSecret, now: Date) {
  const previousValid = secret.previousValidUntil !== null && secret.previousValidUntil > now
  return {
    tenant_id: secret.tenantId,
    secret: secret.secret,
    created_at: secret.createdAt.toISOString(),
    rotated_at: secret.rotatedAt?.toISOString() ?? null,
    /** until when the secret the last rotation replaced still verifies (null: it no longer does) */
    previous_secret_valid_until: previousValid ? secret.previousValidUntil!.toISOString() : null,
    signature: {
      algorithm: 'HMAC-SHA256',
      headers: { tenant: 'X-Mifumo-Tenant', timestamp: 'X-Mifumo-Timestamp', signature: 'X-Mifumo-Signature' },
      signed_payload: '<timestamp>.<raw body>',
      format: 'sha256=<hex digest>',
      tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
    },
  }
}

/** Answers holding a secret are never cached by anyone on the way. */
const noStore = (reply: FastifyReply): FastifyReply => reply.header('cache-control', 'no-store')

/**
 * The tenant's webhook secret (infra/webhooks/webhookSecrets.ts), for its admins only: 403 for
 * the tenant's other members, 404 for anyone else. It is created on first use.
 */
export const webhookSecretRoutes: FastifyPluginAsyncTypebox<WebhookSecretRoutesOptions> = async (app, { store, clock, secrets }) => {
  app.addHook('preHandler', app.authenticate)

  const adminTenant = async (request: Parameters<typeof callerUser>[1], id: string): Promise<string> => {
    const user = await callerUser({ store }, request)
    const tenantId = id.toLowerCase()
    requireAdmin(user, tenantId)
    if (!(await findTenant(store, tenantId))) throw new NotFound('Tenant not found')
    return tenantId
  }

  app.get('/api/tenants/:id/webhook-secret/', { schema: { params: TenantParams } }, async (request, reply) => {
    const tenantId = await adminTenant(request, request.params.id)
    const secret = await secrets.current(tenantId)
    noStore(reply)
    return { success: true, data: secretView(secret, clock.now()) }
  })

  app.post('/api/tenants/:id/webhook-secret/rotate/', { schema: { params: TenantParams } }, async (request, reply) => {
    const tenantId = await adminTenant(request, request.params.id)
    const secret = await secrets.rotate(tenantId)
    request.log.info({ tenantId, rotatedBy: request.principal?.userId }, 'webhook secret rotated')
    noStore(reply)
    return {
      success: true,
      message: `Webhook secret rotated; the previous one keeps working for ${Math.round(secrets.graceMs / 3_600_000)} hours`,
      data: secretView(secret, clock.now()),
    }
  })
}
