import type { Config } from '../../infra/config.ts'
import type { Plan } from './billingPlans.ts'

/** Prices of one message part per channel, in `currency`: the service's configuration. */
export type Pricing = Config['pricing']

/** What a tenant sent in one billing period: parts are counted when a message is queued. */
export interface PeriodUsage {
  smsMessages: number
  smsParts: number
  whatsappMessages: number
}

export const noUsage: PeriodUsage = { smsMessages: 0, smsParts: 0, whatsappMessages: 0 }

/**
 * A period's usage against a plan's allowance. SMS parts and WhatsApp messages have separate
 * allowances; what goes beyond either is overage, charged at the configured per-part price.
 */
export interface Allowance {
  includedSmsParts: number
  smsPartsUsed: number
  /** included parts not used yet, never below 0: the SMS balance */
  remainingSmsParts: number
  overageSmsParts: number
  includedWhatsappMessages: number
  whatsappMessagesUsed: number
  remainingWhatsappMessages: number
  overageWhatsappMessages: number
  /** SMS parts used ÷ included, in %, one decimal (above 100 once over the allowance) */
  usagePercentage: number
  /** overage parts × per-part prices, rounded to cents */
  estimatedOverageCost: number
  /** the remaining SMS parts at the SMS part price, rounded to cents */
  balanceValue: number
}

export const money = (amount: number): number => Math.round(amount * 100) / 100

export const percentOf = (part: number, whole: number): number => (whole > 0 ? Math.round((part / whole) * 1000) / 10 : 0)

export function allowanceOf(plan: Plan, usage: PeriodUsage, pricing: Pricing): Allowance {
  const remainingSmsParts = Math.max(0, plan.includedSmsParts - usage.smsParts)
  const overageSmsParts = Math.max(0, usage.smsParts - plan.includedSmsParts)
  const remainingWhatsappMessages = Math.max(0, plan.includedWhatsappMessages - usage.whatsappMessages)
  const overageWhatsappMessages = Math.max(0, usage.whatsappMessages - plan.includedWhatsappMessages)
  return {
    includedSmsParts: plan.includedSmsParts,
    smsPartsUsed: usage.smsParts,
    remainingSmsParts,
    overageSmsParts,
    includedWhatsappMessages: plan.includedWhatsappMessages,
    whatsappMessagesUsed: usage.whatsappMessages,
    remainingWhatsappMessages,
    overageWhatsappMessages,
    usagePercentage: plan.includedSmsParts > 0 ? percentOf(usage.smsParts, plan.includedSmsParts) : usage.smsParts > 0 ? 100 : 0,
    estimatedOverageCost: money(overageSmsParts * pricing.perPart.sms + overageWhatsappMessages * pricing.perPart.whatsapp),
    balanceValue: money(remainingSmsParts * pricing.perPart.sms),
  }
}
