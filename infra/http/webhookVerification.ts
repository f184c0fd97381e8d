import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Clock } from '../clock.ts'
import { AuthenticationRequired } from '../errors.ts'
import { isUuid } from '../ids.ts'
import { checkWebhookSignature, WEBHOOK_HEADERS, type SignatureProblem } from '../webhooks/webhookSignature.ts'
import type { WebhookSecretStore } from '../webhooks/webhookSecrets.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** the body's bytes as they arrived (webhook routes only: their signature covers them) */
    rawBody: Buffer | null
    /** the tenant whose secret signed this webhook call (webhook routes only) */
    webhookTenantId: string | null
  }
}

export interface WebhookVerificationOptions {
  secrets: WebhookSecretStore
  clock: Clock
  toleranceSeconds?: number
}

const REFUSALS: Record<SignatureProblem | 'tenant', string> = {
  missing: 'Webhook signature headers were not provided.',
  malformed: 'Webhook signature headers are malformed.',
  stale: 'Webhook timestamp is outside the allowed window.',
  // an unknown tenant answers as a wrong signature does: tenant ids cannot be probed
  mismatch: 'Webhook signature is invalid.',
  tenant: 'Webhook signature is invalid.',
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/**
 * Makes every route of the calling (encapsulated) plugin a signed webhook: bodies are read as raw
 * bytes (then parsed as JSON), and before validation each call must carry a valid signature of
 * a known tenant (webhookSignature.ts), else 401 `{detail}` and the handler never runs. The
 * handler finds the tenant in `request.webhookTenantId`.
 *
 * Register it inside the webhook routes' own plugin (not through fastify-plugin): the raw-body
 * parser must not replace the JSON parser of the other routes.
 */
export function installWebhookVerification(app: FastifyInstance, options: WebhookVerificationOptions): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.decorateRequest('rawBody', null)
  app.decorateRequest('webhookTenantId', null)
  const parseRaw = (request: FastifyRequest, body: string | Buffer, done: (error: Error | null, body?: unknown) => void): void => {
    const raw = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
    request.rawBody = raw
    const text = raw.toString('utf8')
    if (text.trim() === '') {
      done(null, undefined)
      return
    }
    void parseJson(request, text, done)
  }
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, parseRaw)
  // providers do not all label their JSON: whatever the type, the body is read as JSON
  app.addContentTypeParser('*', { parseAs: 'buffer' }, parseRaw)

  app.addHook('preValidation', async (request) => {
    const tenantHeader = header(request, WEBHOOK_HEADERS.tenant)?.trim()
    const timestamp = header(request, WEBHOOK_HEADERS.timestamp)?.trim()
    const signature = header(request, WEBHOOK_HEADERS.signature)?.trim()
    if (!tenantHeader || !timestamp || !signature) throw new AuthenticationRequired(REFUSALS.missing)
    if (!isUuid(tenantHeader)) throw new AuthenticationRequired(REFUSALS.tenant)
    const tenantId = tenantHeader.toLowerCase()
    const secrets = await options.secrets.verificationSecrets(tenantId)
    const check = checkWebhookSignature({
      secrets,
      timestamp,
      signature,
      rawBody: request.rawBody ?? Buffer.alloc(0),
      now: options.clock.now(),
      toleranceSeconds: options.toleranceSeconds,
    })
    if (!check.ok) throw new AuthenticationRequired(REFUSALS[check.problem])
    if (secrets.length === 0) throw new AuthenticationRequired(REFUSALS.tenant)
    request.webhookTenantId = tenantId
  })
}
