import { performance } from 'node:perf_hooks'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import { NotFound, ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { tenantPrincipal } from '../../infra/http/authentication.ts'
import { isUuid } from '../../infra/ids.ts'
import type { SmsProvider } from '../../infra/sms/smsProvider.ts'
import { loadAggregate } from '../commandExecution.ts'
import type { CountryCode } from '../contacts/phoneNumber.ts'
import { commandContextOf, replyWithPosition } from '../httpCommand.ts'
import { messageStream } from '../messages/messageCommands.ts'
import { messageDecider, type ExistingMessage } from '../messages/messageDecider.ts'
import { findTenant } from '../tenants/tenantCommands.ts'
import { sendSms, type SmsPricing } from './smsSend.ts'

export interface SmsSendRoutesOptions {
  store: EventStore
  clock: Clock
  provider: SmsProvider
  pricing: SmsPricing
}

/** the most recipients one request may name */
export const MAX_SEND_RECIPIENTS = 1000

const SendBody = Type.Object({
  message: Type.String({ minLength: 1, maxLength: 1600 }),
  recipients: Type.Array(Type.String({ maxLength: 64 }), { minItems: 1, maxItems: MAX_SEND_RECIPIENTS }),
  sender_id: Type.Optional(Type.Union([Type.String({ maxLength: 16 }), Type.Null()])),
})

/** an alphanumeric sender id (up to 11 letters, digits and spaces) or a phone number, as operators accept */
const SENDER_ID = /^[A-Za-z0-9 ]{1,11}$|^\+?\d{3,15}$/

const MessageParams = Type.Object({ id: Type.String({ maxLength: 100 }) })

async function tenantCountry(store: EventStore, tenantId: string): Promise<CountryCode> {
  const tenant = await findTenant(store, tenantId)
  if (!tenant) throw new NotFound('Tenant not found')
  return tenant.country as CountryCode
}

/** A message's delivery status, from its aggregate (strongly consistent: no read model in between). */
export function deliveryStatusView(message: ExistingMessage) {
  const outbound = message.direction === 'outbound' ? message : null
  return {
    id: message.messageId,
    status: message.status,
    direction: message.direction,
    channel: message.channel,
    to: outbound?.to ?? null,
    from: message.direction === 'inbound' ? message.from : null,
    contact_id: message.contactId,
    conversation_id: message.conversationId,
    campaign_id: message.campaignId,
    batch_id: outbound?.batchId ?? null,
    sender_id: outbound?.senderId ?? null,
    provider_message_id: outbound?.providerMessageId ?? null,
    sent_at: outbound?.sentAt ?? null,
    delivered_at: outbound?.deliveredAt ?? null,
    read_at: outbound?.readAt ?? null,
    failed_at: outbound?.failedAt ?? null,
    failure_reason: outbound?.failureReason ?? null,
    cancelled_at: outbound?.cancelledAt ?? null,
    cancellation_reason: outbound?.cancellationReason ?? null,
    created_at: message.createdAt,
    updated_at: message.updatedAt,
  }
}

/**
 * The SMS page's sending side: POST /sms/send/ (to numbers, outside conversations and campaigns),
 * GET /sms/{id}/status/ and GET /sms/test-connection/. Tenant users behind a token or an API key.
 */
export const smsSendRoutes: FastifyPluginAsyncTypebox<SmsSendRoutesOptions> = async (app, { store, clock, provider, pricing }) => {
  app.addHook('preHandler', app.authenticate)

  app.post('/api/messaging/sms/send/', { schema: { body: SendBody }, config: { rateLimit: 'sms_send', idempotent: true } }, async (request, reply) => {
    const context = commandContextOf(request, clock)
    const { message, recipients } = request.body
    if (!message.trim()) throw ValidationFailed.field('message', 'This field may not be blank.')
    const senderId = request.body.sender_id?.trim() || null
    if (senderId !== null && !SENDER_ID.test(senderId)) {
      throw ValidationFailed.field('sender_id', 'Must be up to 11 letters, digits and spaces, or a phone number.')
    }
    const outcome = await sendSms(store, context, { message, recipients, senderId }, { country: await tenantCountry(store, context.tenantId), pricing })
    const count = outcome.messageIds.length
    return replyWithPosition(reply, 201, outcome.position, {
      success: true,
      message: `SMS queued for ${count} recipient${count === 1 ? '' : 's'}`,
      data: {
        batch_id: outcome.batchId,
        message_ids: outcome.messageIds,
        recipients: outcome.recipients,
        total_recipients: count,
        sender_id: senderId,
        parts_per_message: outcome.partsPerMessage,
        total_parts: outcome.totalParts,
        estimated_cost: outcome.estimatedCost,
        currency: outcome.currency,
        balance_after: outcome.balanceAfter,
      },
    })
  })

  /** Whether the provider answers; a provider that fails is an answer (ok: false), not a 5xx. */
  app.get('/api/messaging/sms/test-connection/', async (request) => {
    tenantPrincipal(request)
    const started = performance.now()
    try {
      return { success: true, data: await provider.testConnection() }
    } catch (error) {
      request.log.warn({ err: error }, 'SMS provider connection test failed')
      return {
        success: true,
        data: {
          ok: false,
          provider: provider.name,
          latency_ms: Math.round(performance.now() - started),
          detail: `The connection test failed: ${(error as Error).message ?? String(error)}`,
        },
      }
    }
  })

  app.get('/api/messaging/sms/:id/status/', { schema: { params: MessageParams } }, async (request) => {
    const { tenantId } = tenantPrincipal(request)
    const id = request.params.id.toLowerCase()
    if (!isUuid(id)) throw new NotFound('Message not found')
    const { state } = await loadAggregate(store, messageStream(id), messageDecider)
    if (state.status === 'absent' || state.tenantId !== tenantId) throw new NotFound('Message not found')
    return { success: true, data: deliveryStatusView(state) }
  })
}
