import { deterministicId } from '../../infra/ids.ts'

/**
 * The plan catalogue, defined in code. Prices are per calendar month in the configured currency
 * (PRICE_CURRENCY); message parts beyond a plan's allowance are charged at the configured per-part
 * prices (PRICE_PER_PART_SMS, PRICE_PER_PART_WHATSAPP). `maxContacts` is informational for now:
 * nothing refuses a contact over it yet.
 */
export type PlanId = 'free' | 'starter' | 'business' | 'enterprise'

export interface Plan {
  id: PlanId
  name: string
  description: string
  /** price of one calendar month, in the configured currency */
  monthlyPrice: number
  /** SMS parts included each month (GSM-7: 160 characters alone, 153 per part; UCS-2: 70 / 67) */
  includedSmsParts: number
  /** WhatsApp messages included each month */
  includedWhatsappMessages: number
  /** null: no limit */
  maxContacts: number | null
  features: string[]
}

const COMMON_FEATURES = ['SMS and WhatsApp messaging', 'Contact management with opt-in tracking', 'Message templates', 'Conversations']

export const PLANS: readonly Plan[] = [
  {
    id: 'free',
    name: 'Free',
    description: 'For trying the platform out',
    monthlyPrice: 0,
    includedSmsParts: 100,
    includedWhatsappMessages: 50,
    maxContacts: 500,
    features: [...COMMON_FEATURES, 'Campaigns', 'Dashboard analytics'],
  },
  {
    id: 'starter',
    name: 'Starter',
    description: 'For small teams sending regular updates',
    monthlyPrice: 200,
    includedSmsParts: 1_000,
    includedWhatsappMessages: 200,
    maxContacts: 5_000,
    features: [...COMMON_FEATURES, 'Campaigns', 'Dashboard analytics', 'Bulk contact import'],
  },
  {
    id: 'business',
    name: 'Business',
    description: 'For businesses running campaigns every week',
    monthlyPrice: 900,
    includedSmsParts: 5_000,
    includedWhatsappMessages: 1_000,
    maxContacts: 50_000,
    features: [...COMMON_FEATURES, 'Campaigns', 'Dashboard analytics', 'Bulk contact import', 'Scheduled campaigns', 'Priority support'],
  },
  {
    id: 'enterprise',
    name: 'Enterprise',
    description: 'For high volumes, with no contact limit',
    monthlyPrice: 4_000,
    includedSmsParts: 25_000,
    includedWhatsappMessages: 5_000,
    maxContacts: null,
    features: [...COMMON_FEATURES, 'Campaigns', 'Dashboard analytics', 'Bulk contact import', 'Scheduled campaigns', 'Priority support', 'Dedicated account manager'],
  },
]

/** Every tenant starts on this plan when it is created. */
export const DEFAULT_PLAN_ID: PlanId = 'free'

export function planById(id: PlanId): Plan {
  const plan = PLANS.find((candidate) => candidate.id === id)
  if (!plan) throw new Error(`unknown plan ${id}`)
  return plan
}

export interface Subscription {
  id: string
  tenantId: string
  plan: Plan
  status: 'active'
  /** when the subscription began: the tenant's creation */
  createdAt: string
}

/**
 * A tenant's subscription. There is no way to change plans yet (the spec has no endpoint for it
 * and no payment flow), so every tenant is on the plan it started with, from its creation on; the
 * id is derived from the tenant, so it is stable across requests and processes.
 */
export function subscriptionOf(tenant: { tenantId: string; createdAt: string }): Subscription {
  return {
    id: deterministicId('subscription', tenant.tenantId),
    tenantId: tenant.tenantId,
    plan: planById(DEFAULT_PLAN_ID),
    status: 'active',
    createdAt: tenant.createdAt,
  }
}
