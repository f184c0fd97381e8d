import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { isSupportedCountry } from 'libphonenumber-js/min'
import { Type } from 'typebox'
import { percentOf } from '../commands/billing/allowance.ts'
import { creditBalance } from '../commands/billing/smsCredits.ts'
import { describePhone, type CountryCode } from '../commands/contacts/phoneNumber.ts'
import { localDate, startOfMonth, startOfWeek } from '../infra/calendar.ts'
import { ValidationFailed } from '../infra/errors.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { analyticsOverview, deliveredOf, messageStatusCounts, outboundOf, type AnalyticsOverviewTables } from '../projections/analyticsOverview.ts'
import { billingUsage, dailyUsage, type BillingUsageTables } from '../projections/billingUsage.ts'
import { readModel } from '../projections/engine/projection.ts'
import { AccountQuery, balanceView, billingAccountOf, tenantOf, type BillingRoutesOptions } from './billingRoutes.ts'
import { awaitPosition } from './readYourWrites.ts'

/**
 * The SMS page's helpers: a phone number check (a pure check: it appends nothing), the tenant's
 * SMS balance (see balanceView) and its SMS statistics. Sending, delivery status and the provider
 * connection test live elsewhere. The balance and the statistics read the tenant's billing account,
 * so these routes take what the billing routes take.
 */
export type SmsRoutesOptions = BillingRoutesOptions

const PhoneText = Type.String({ maxLength: 64 })

const ValidatePhoneBody = Type.Object({
  phone_number: Type.Optional(PhoneText),
  /** accepted for `phone_number` */
  phone: Type.Optional(PhoneText),
  /** the country local numbers are read in; default the tenant's */
  country: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$' })),
})

export const smsRoutes: FastifyPluginAsyncTypebox<SmsRoutesOptions> = async (app, { db, engine, clock, readYourWritesTimeoutMs, store, pricing }) => {
  const usage = readModel<BillingUsageTables>(db, billingUsage)
  const overview = readModel<AnalyticsOverviewTables>(db, analyticsOverview)
  app.addHook('preHandler', app.authenticate)

  /**
   * Whether a number is one this service accepts (the rule contacts use), read in the tenant's
   * country when it is local. An invalid number is an answer (is_valid false), not a refusal.
   */
  app.post(
    '/api/messaging/sms/validate-phone/',
    {
      schema: { body: ValidatePhoneBody },
      // a missing body is a missing phone_number, not a malformed request
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {}
      },
    },
    async (request) => {
      const { tenantId } = tenantPrincipal(request)
      const given = request.body.phone_number ?? request.body.phone
      if (given === undefined) throw ValidationFailed.field('phone_number', 'This field is required.')
      if (given.trim() === '') throw ValidationFailed.field('phone_number', 'This field may not be blank.')
      let country: CountryCode
      if (request.body.country !== undefined) {
        const code = request.body.country.toUpperCase()
        if (!isSupportedCountry(code)) throw ValidationFailed.field('country', 'Unknown country code.')
        country = code
      } else {
        country = (await tenantOf(store, tenantId)).country as CountryCode
      }
      const details = await describePhone(given, country)
      return {
        success: true,
        data: {
          phone_number: given,
          is_valid: details !== null,
          phone_e164: details?.e164 ?? null,
          country: details?.country ?? null,
          national_format: details?.nationalFormat ?? null,
          international_format: details?.internationalFormat ?? null,
          type: details?.type ?? null,
        },
      }
    },
  )

  app.get('/api/messaging/sms/balance/', { schema: { querystring: AccountQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [billingUsage.name], request.query.min_position, readYourWritesTimeoutMs)
    const now = clock.now()
    const [account, credits] = await Promise.all([billingAccountOf({ store, usage, pricing }, tenantId, now), creditBalance(store, tenantId, now)])
    return { success: true, data: balanceView(account, credits, pricing) }
  })

  /**
   * SMS only. Sent counts are messages queued for sending in the tenant's local today, week (from
   * Monday) and month; delivered, failed, pending and delivery_rate cover every SMS ever sent
   * (delivered includes read; pending is queued or sent without a report yet).
   */
  app.get('/api/messaging/sms/stats/', { schema: { querystring: AccountQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [billingUsage.name, analyticsOverview.name], request.query.min_position, readYourWritesTimeoutMs)
    const now = clock.now()
    const account = await billingAccountOf({ store, usage, pricing }, tenantId, now)
    const zone = account.period.timezone
    const today = localDate(now, zone)
    const weekStart = startOfWeek(today)
    const monthStart = startOfMonth(today)
    const [days, counts] = await Promise.all([
      dailyUsage(usage, tenantId, weekStart < monthStart ? weekStart : monthStart, today),
      messageStatusCounts(overview, tenantId, 'sms'),
    ])
    const sentFrom = (first: string) => days.filter((day) => day.day >= first).reduce((total, day) => total + day.smsMessages, 0)
    const sent = outboundOf(counts)
    const delivered = deliveredOf(counts)
    return {
      success: true,
      data: {
        total_sent: sent,
        delivered,
        failed: counts.failed,
        pending: counts.queued + counts.sent,
        received: counts.received,
        delivery_rate: percentOf(delivered, sent),
        sent_today: sentFrom(today),
        sent_this_week: sentFrom(weekStart),
        sent_this_month: sentFrom(monthStart),
        parts_used_this_period: account.usage.smsParts,
        period_start: account.period.start,
        period_end: account.period.end,
        timezone: zone,
      },
    }
  })
}
