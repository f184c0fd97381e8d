import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import { allowanceOf, money, type Allowance, type PeriodUsage, type Pricing } from '../commands/billing/allowance.ts'
import { billingPeriodOf, currentBillingPeriod, daysRemaining, type BillingPeriod } from '../commands/billing/billingPeriod.ts'
import { PLANS, subscriptionOf, type Plan, type Subscription } from '../commands/billing/billingPlans.ts'
import { creditBalance, type CreditBalance } from '../commands/billing/smsCredits.ts'
import { findTenant, type ActiveTenant } from '../commands/tenants/tenantCommands.ts'
import { localDate } from '../infra/calendar.ts'
import type { Clock } from '../infra/clock.ts'
import { NotFound, ValidationFailed } from '../infra/errors.ts'
import type { EventStore } from '../infra/eventStore/eventStore.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { billingUsage, dailyUsage, monthUsage, type BillingUsageTables, type DayUsage } from '../projections/billingUsage.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { PageQuery, pageLinks } from './pagination.ts'
import { awaitPosition, MinPosition } from './readYourWrites.ts'

/**
 * Billing, read only: the plan catalogue, the tenant's subscription (every tenant is on the plan
 * it started with: there is no plan change or payment flow), its usage in the current billing
 * period (a calendar month in the tenant's time zone) and its SMS balance. Every member of a
 * tenant may read them.
 */
export interface BillingRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  clock: Clock
  readYourWritesTimeoutMs: number
  store: EventStore
  pricing: Pricing
}

// ---- the account: tenant, subscription, period, usage ----

export interface BillingAccount {
  tenant: ActiveTenant
  subscription: Subscription
  period: BillingPeriod
  usage: PeriodUsage
  allowance: Allowance
}

export async function tenantOf(store: EventStore, tenantId: string): Promise<ActiveTenant> {
  const tenant = await findTenant(store, tenantId)
  if (!tenant) throw new NotFound('Tenant not found')
  return tenant
}

/** The tenant's subscription and its usage in a billing period (the current one by default). */
export async function billingAccountOf(
  deps: { store: EventStore; usage: Kysely<BillingUsageTables>; pricing: Pricing },
  tenantId: string,
  now: Date,
  month?: string,
): Promise<BillingAccount> {
  const tenant = await tenantOf(deps.store, tenantId)
  const subscription = subscriptionOf(tenant)
  const period = month ? billingPeriodOf(month, tenant.timezone) : currentBillingPeriod(now, tenant.timezone)
  const usage = await monthUsage(deps.usage, tenantId, period.month)
  return { tenant, subscription, period, usage, allowance: allowanceOf(subscription.plan, usage, deps.pricing) }
}

// ---- views ----

export function planView(plan: Plan, pricing: Pricing, currentPlanId: string | null) {
  return {
    id: plan.id,
    name: plan.name,
    description: plan.description,
    price: plan.monthlyPrice,
    currency: pricing.currency,
    billing_interval: 'month',
    included_sms_parts: plan.includedSmsParts,
    included_whatsapp_messages: plan.includedWhatsappMessages,
    max_contacts: plan.maxContacts,
    price_per_extra_sms_part: pricing.perPart.sms,
    price_per_extra_whatsapp_message: pricing.perPart.whatsapp,
    features: plan.features,
    is_current: plan.id === currentPlanId,
  }
}

export function subscriptionView(account: BillingAccount, pricing: Pricing, now: Date) {
  const { subscription, period } = account
  return {
    id: subscription.id,
    plan: planView(subscription.plan, pricing, subscription.plan.id),
    status: subscription.status,
    current_period_start: period.start,
    current_period_end: period.end,
    days_remaining: daysRemaining(period, now),
    cancel_at_period_end: false,
    timezone: period.timezone,
    created_at: new Date(subscription.createdAt).toISOString(),
  }
}

export function usageSummaryView(account: BillingAccount, pricing: Pricing) {
  const { period, usage, allowance } = account
  return {
    period: period.month,
    period_start: period.start,
    period_end: period.end,
    timezone: period.timezone,
    plan: account.subscription.plan.id,
    currency: pricing.currency,
    sms_messages: usage.smsMessages,
    sms_parts_used: usage.smsParts,
    whatsapp_messages: usage.whatsappMessages,
    included_parts: allowance.includedSmsParts,
    remaining_parts: allowance.remainingSmsParts,
    usage_percentage: allowance.usagePercentage,
    estimated_overage_cost: allowance.estimatedOverageCost,
    by_channel: {
      sms: {
        messages: usage.smsMessages,
        parts: usage.smsParts,
        included: allowance.includedSmsParts,
        remaining: allowance.remainingSmsParts,
        overage: allowance.overageSmsParts,
        overage_cost: money(allowance.overageSmsParts * pricing.perPart.sms),
      },
      whatsapp: {
        messages: usage.whatsappMessages,
        parts: usage.whatsappMessages,
        included: allowance.includedWhatsappMessages,
        remaining: allowance.remainingWhatsappMessages,
        overage: allowance.overageWhatsappMessages,
        overage_cost: money(allowance.overageWhatsappMessages * pricing.perPart.whatsapp),
      },
    },
  }
}

const dayView = (day: DayUsage) => ({ date: day.day, sms_messages: day.smsMessages, sms_parts: day.smsParts, whatsapp_messages: day.whatsappMessages })

/**
 * The SMS balance, from the tenant's credit ledger (commands/billing/smsCredits.ts): the plan's
 * parts for this period not spent yet plus the purchased credits left; what it is worth at the
 * SMS part price. Sending spends it (a campaign reserves all its recipients' parts at start and
 * gets back what it did not send); a send beyond it is refused with INSUFFICIENT_BALANCE.
 */
export function balanceView(account: BillingAccount, credits: CreditBalance, pricing: Pricing) {
  const { period, allowance } = account
  return {
    balance: credits.availableParts,
    currency: pricing.currency,
    value: money(credits.availableParts * pricing.perPart.sms),
    price_per_part: pricing.perPart.sms,
    plan: account.subscription.plan.id,
    period_start: period.start,
    period_end: period.end,
    included_parts: credits.ledger.includedAllowance,
    included_parts_spent: credits.ledger.includedUsed,
    purchased_parts: credits.ledger.purchased,
    /** parts of the messages actually queued this period (campaign reservations not yet sent excluded) */
    used_parts: allowance.smsPartsUsed,
  }
}

// ---- routes ----

const MONTH = '^[0-9]{4}-(0[1-9]|1[0-2])$'

const PlansQuery = Type.Object({ ...PageQuery })
/** the query of a read of the tenant's billing account (also the SMS balance and statistics) */
export const AccountQuery = Type.Object({ min_position: MinPosition })
const UsageQuery = Type.Object({
  period: Type.Optional(Type.String({ pattern: MONTH, description: "a past or the current billing period, 'YYYY-MM'; default the current one" })),
  min_position: MinPosition,
})

export const billingRoutes: FastifyPluginAsyncTypebox<BillingRoutesOptions> = async (app, { db, engine, clock, readYourWritesTimeoutMs, store, pricing }) => {
  const usage = readModel<BillingUsageTables>(db, billingUsage)
  const deps = { store, usage, pricing }
  app.addHook('preHandler', app.authenticate)

  app.get('/api/billing/plans/', { schema: { querystring: PlansQuery } }, async (request) => {
    const { tenantId } = tenantPrincipal(request)
    const { page, page_size: pageSize } = request.query
    const current = subscriptionOf(await tenantOf(store, tenantId)).plan.id
    const results = PLANS.slice((page - 1) * pageSize, page * pageSize).map((plan) => planView(plan, pricing, current))
    return { success: true, data: { results, ...pageLinks(request, page, pageSize, PLANS.length) } }
  })

  app.get('/api/billing/subscription/', { schema: { querystring: AccountQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [billingUsage.name], request.query.min_position, readYourWritesTimeoutMs)
    const now = clock.now()
    const account = await billingAccountOf(deps, tenantId, now)
    return { success: true, data: subscriptionView(account, pricing, now) }
  })

  app.get('/api/billing/usage/', { schema: { querystring: UsageQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const now = clock.now()
    const requested = request.query.period
    await awaitPosition(engine, reply, [billingUsage.name], request.query.min_position, readYourWritesTimeoutMs)
    const account = await billingAccountOf(deps, tenantId, now, requested)
    const today = localDate(now, account.period.timezone)
    if (account.period.firstDay > today) throw ValidationFailed.field('period', 'Ensure this period is not in the future.')
    const lastDay = account.period.lastDay < today ? account.period.lastDay : today
    const days = await dailyUsage(usage, tenantId, account.period.firstDay, lastDay)
    return { success: true, data: { ...usageSummaryView(account, pricing), by_day: days.map(dayView) } }
  })

  app.get('/api/billing/overview/', { schema: { querystring: AccountQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [billingUsage.name], request.query.min_position, readYourWritesTimeoutMs)
    const now = clock.now()
    const account = await billingAccountOf(deps, tenantId, now)
    const subscription = subscriptionView(account, pricing, now)
    return {
      success: true,
      data: {
        plan: subscription.plan,
        subscription,
        usage: usageSummaryView(account, pricing),
        balance: balanceView(account, await creditBalance(store, tenantId, now), pricing),
        generated_at: now.toISOString(),
      },
    }
  })
}
