import { Type, type Static } from 'typebox'
import { ActorData } from '../eventParts.ts'

/**
 * The tenant's SMS credit ledger, one stream per tenant (`smsCredits-<tenant>`). Credits are SMS
 * parts: each billing period brings the plan's included parts, and purchased credits add to them
 * and never expire; included parts are spent first. Every event carries the ledger's state after
 * it, so the current balance is the last event alone (a backward read of one event), however long
 * the stream grows.
 */
export const CreditLedgerState = Type.Object({
  /** billing period 'YYYY-MM' (tenant's time zone) the included counters belong to */
  period: Type.String(),
  /** parts the plan includes in that period */
  includedAllowance: Type.Integer(),
  includedUsed: Type.Integer(),
  /** purchased parts left (released reservations come back here too) */
  purchased: Type.Integer(),
})
export type CreditLedgerState = Static<typeof CreditLedgerState>

/** What the parts were for: a campaign's reservation, one message, one /sms/send request. */
export const CreditReference = Type.Object({
  kind: Type.Union([Type.Literal('campaign'), Type.Literal('message'), Type.Literal('sms_send')]),
  id: Type.String(),
})
export type CreditReference = Static<typeof CreditReference>

export const SmsCreditsPurchased = Type.Object({
  type: Type.Literal('smsCreditsPurchased'),
  data: Type.Object({
    tenantId: Type.String(),
    parts: Type.Integer(),
    reason: Type.String(),
    purchasedBy: ActorData,
    after: CreditLedgerState,
    at: Type.String(),
  }),
})

export const SmsCreditsConsumed = Type.Object({
  type: Type.Literal('smsCreditsConsumed'),
  data: Type.Object({
    tenantId: Type.String(),
    parts: Type.Integer(),
    fromIncluded: Type.Integer(),
    fromPurchased: Type.Integer(),
    reference: CreditReference,
    after: CreditLedgerState,
    at: Type.String(),
  }),
})

/** Parts reserved but not used (a campaign cancelled or completed with unsent messages) come back as purchased credits. */
export const SmsCreditsReleased = Type.Object({
  type: Type.Literal('smsCreditsReleased'),
  data: Type.Object({
    tenantId: Type.String(),
    parts: Type.Integer(),
    reference: CreditReference,
    after: CreditLedgerState,
    at: Type.String(),
  }),
})

export const SmsCreditEvent = Type.Union([SmsCreditsPurchased, SmsCreditsConsumed, SmsCreditsReleased])
export type SmsCreditEvent = Static<typeof SmsCreditEvent>
