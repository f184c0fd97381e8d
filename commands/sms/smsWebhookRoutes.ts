import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import { AuthenticationRequired, NotFound } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { installWebhookVerification } from '../../infra/http/webhookVerification.ts'
import type { DeliveryReport } from '../../infra/sms/smsProvider.ts'
import { signedWebhookHeaders } from '../../infra/webhooks/webhookSignature.ts'
import type { WebhookSecretStore } from '../../infra/webhooks/webhookSecrets.ts'
import { systemActor, type CommandContext } from '../commandContext.ts'
import type { CountryCode } from '../contacts/phoneNumber.ts'
import { replyWithPosition } from '../httpCommand.ts'
import { findTenant } from '../tenants/tenantCommands.ts'
import { applyDeliveryReports, type IncomingDeliveryReport } from './deliveryReports.ts'
import { receiveInboundSms } from './inboundSms.ts'
import type { OpenConversationFinder } from './smsPorts.ts'

export const DELIVERY_REPORT_PATH = '/api/messaging/sms/delivery-report/'
export const INBOUND_SMS_PATH = '/api/messaging/sms/inbound/'

/** the most reports one call may carry */
export const MAX_REPORTS_PER_CALL = 1000

export interface SmsWebhookRoutesOptions {
  store: EventStore
  clock: Clock
  secrets: WebhookSecretStore
  conversations: OpenConversationFinder
}

const ReportItem = Type.Object({
  reference: Type.String({ minLength: 1, maxLength: 200 }),
  provider_message_id: Type.String({ minLength: 1, maxLength: 200 }),
  status: Type.Enum(['delivered', 'read', 'failed']),
  timestamp: Type.String({ minLength: 1, maxLength: 64 }),
  reason: Type.Optional(Type.String({ maxLength: 500 })),
})

const ReportBody = Type.Union([ReportItem, Type.Array(ReportItem, { minItems: 1, maxItems: MAX_REPORTS_PER_CALL })])

const InboundBody = Type.Object({
  provider_message_id: Type.String({ minLength: 1, maxLength: 200 }),
  from: Type.String({ minLength: 1, maxLength: 64 }),
  to: Type.String({ minLength: 1, maxLength: 64 }),
  text: Type.String({ maxLength: 4096 }),
  received_at: Type.String({ minLength: 1, maxLength: 64 }),
})

/** webhook bodies are small: a thousand reports fit well within this */
const WEBHOOK_BODY_LIMIT = 1024 * 1024

/** The system acting on a webhook call of a tenant. */
function webhookContext(request: FastifyRequest, clock: Clock): CommandContext {
  const tenantId = request.webhookTenantId
  if (!tenantId) throw new AuthenticationRequired()
  return {
    tenantId,
    actor: systemActor,
    correlationId: request.id,
    causationId: null,
    ip: request.ip ?? null,
    userAgent: request.headers['user-agent'] ?? null,
    now: clock.now(),
  }
}

/**
 * The provider's calls into the platform, signed with the tenant's webhook secret instead of a
 * token (installWebhookVerification): delivery reports and inbound SMS. A call that is not signed
 * properly is a 401 and changes nothing. Not rate limited per caller: a provider posts from a few
 * addresses at its own pace, and every call must prove itself with an HMAC first.
 */
export const smsWebhookRoutes: FastifyPluginAsyncTypebox<SmsWebhookRoutesOptions> = async (app, { store, clock, secrets, conversations }) => {
  installWebhookVerification(app, { secrets, clock })

  app.post(
    DELIVERY_REPORT_PATH,
    { schema: { body: ReportBody }, bodyLimit: WEBHOOK_BODY_LIMIT, config: { rateLimit: false } },
    async (request, reply) => {
      const context = webhookContext(request, clock)
      const body = request.body as IncomingDeliveryReport | IncomingDeliveryReport[]
      const reports = Array.isArray(body) ? body : [body]
      // a batch of reports: many messages at a time (their loads are gathered into few round trips)
      const outcome = await applyDeliveryReports(store, context, reports, 64)
      const count = (wanted: string) => outcome.results.filter((result) => result.outcome === wanted).length
      return replyWithPosition(reply, 200, outcome.position, {
        success: true,
        data: {
          accepted: count('recorded'),
          duplicates: count('duplicate'),
          unknown: count('unknown'),
          rejected: count('mismatch') + count('rejected'),
          results: outcome.results,
        },
      })
    },
  )

  app.post(INBOUND_SMS_PATH, { schema: { body: InboundBody }, bodyLimit: WEBHOOK_BODY_LIMIT, config: { rateLimit: false } }, async (request, reply) => {
    const context = webhookContext(request, clock)
    const tenant = await findTenant(store, context.tenantId)
    if (!tenant) throw new NotFound('Tenant not found')
    const outcome = await receiveInboundSms(store, context, conversations, tenant.country as CountryCode, {
      providerMessageId: request.body.provider_message_id,
      from: request.body.from,
      text: request.body.text,
    })
    return replyWithPosition(reply, outcome.created ? 201 : 200, outcome.position, {
      success: true,
      data: { message_id: outcome.messageId, conversation_id: outcome.conversationId, contact_id: outcome.contactId, created: outcome.created },
    })
  })
}

/**
 * The simulator's delivery reports, posted to our own delivery-report route, signed with the
 * tenant's webhook secret (created on first use), so simulated reports travel the path real ones
 * take. A refused call throws: the simulator tries it again later.
 */
export function deliveryReportsThroughRoute(
  app: Pick<FastifyInstance, 'inject'>,
  secrets: WebhookSecretStore,
  clock: Clock,
): (tenantId: string, report: DeliveryReport | readonly DeliveryReport[]) => Promise<void> {
  return async (tenantId, report) => {
    const { secret } = await secrets.current(tenantId, { cached: true })
    const body = JSON.stringify(report)
    const response = await app.inject({
      method: 'POST',
      url: DELIVERY_REPORT_PATH,
      headers: { 'content-type': 'application/json', ...signedWebhookHeaders(tenantId, secret, body, clock.now()) },
      payload: body,
    })
    if (response.statusCode !== 200) throw new Error(`the delivery-report route answered ${response.statusCode}: ${response.body.slice(0, 500)}`)
  }
}
