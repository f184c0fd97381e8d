/**
 * The provider port: how a message leaves the platform. Adapters (in this folder): a simulator (the
 * default) and an HTTP gateway. The message id travels as the provider's idempotency key, so a
 * send repeated after a crash (the worker died after the provider accepted, before we recorded
 * it) is recognised by the provider and not delivered twice.
 */
export interface OutboundSms {
  /** our message id: the idempotency key and the reference delivery reports carry back */
  messageId: string
  tenantId: string
  to: string
  senderId: string | null
  channel: 'sms' | 'whatsapp'
  text: string
}

export type SendResult =
  | { status: 'accepted'; providerMessageId: string }
  /** the provider refused this message for good (bad number, blocked content): no retry */
  | { status: 'rejected'; reason: string }

export interface ConnectionCheck {
  ok: boolean
  provider: string
  latency_ms: number
  detail: string
}

export interface SmsProvider {
  readonly name: string
  /** throws ProviderUnavailable when the provider could not be reached or failed (retry later) */
  send(sms: OutboundSms): Promise<SendResult>
  testConnection(): Promise<ConnectionCheck>
}

/** The provider failed or could not be reached after the adapter's own retries: try again later. */
export class ProviderUnavailable extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ProviderUnavailable'
  }
}

/** A delivery report as providers send it back (the simulator through the same HTTP path). */
export interface DeliveryReport {
  /** our message id, sent as the reference */
  reference: string
  provider_message_id: string
  status: 'delivered' | 'read' | 'failed'
  /** ISO time the provider saw the outcome */
  timestamp: string
  reason?: string
}
