import t from 'tap'
import { allowanceOf } from '../../commands/billing/allowance.ts'
import { billingPeriodOf, currentBillingPeriod, daysRemaining, isoInZone, startOfLocalDay } from '../../commands/billing/billingPeriod.ts'
import { planById, PLANS, subscriptionOf } from '../../commands/billing/billingPlans.ts'

const pricing = { currency: 'USD', perPart: { sms: 0.25, whatsapp: 0.5 } }

t.test('billing periods are calendar months in the tenant zone', async (t) => {
  t.same(billingPeriodOf('2026-03', 'Africa/Dar_es_Salaam'), {
    month: '2026-03',
    firstDay: '2026-03-01',
    lastDay: '2026-03-31',
    start: '2026-03-01T00:00:00+03:00',
    end: '2026-03-31T23:59:59+03:00',
    timezone: 'Africa/Dar_es_Salaam',
  })
  // New York moves to daylight time on 8 March 2026: the period starts at -05:00 and ends at -04:00
  t.match(billingPeriodOf('2026-03', 'America/New_York'), { start: '2026-03-01T00:00:00-05:00', end: '2026-03-31T23:59:59-04:00' })
  t.match(billingPeriodOf('2026-02', 'UTC'), { firstDay: '2026-02-01', lastDay: '2026-02-28', start: '2026-02-01T00:00:00+00:00', end: '2026-02-28T23:59:59+00:00' })
  t.match(billingPeriodOf('2028-02', 'Asia/Kolkata'), { lastDay: '2028-02-29', start: '2028-02-01T00:00:00+05:30' })
  t.match(billingPeriodOf('2026-12', 'Pacific/Auckland'), { lastDay: '2026-12-31', start: '2026-12-01T00:00:00+13:00', end: '2026-12-31T23:59:59+13:00' })

  // 00:30 on 1 March in Dar es Salaam is still 28 February in UTC
  t.equal(currentBillingPeriod(new Date('2026-02-28T21:30:00Z'), 'Africa/Dar_es_Salaam').month, '2026-03')
  t.equal(currentBillingPeriod(new Date('2026-02-28T20:59:59Z'), 'Africa/Dar_es_Salaam').month, '2026-02')
  t.equal(currentBillingPeriod(new Date('2026-02-28T21:30:00Z'), 'UTC').month, '2026-02')

  t.equal(startOfLocalDay('2026-03-08', 'America/New_York').toISOString(), '2026-03-08T05:00:00.000Z')
  t.equal(startOfLocalDay('2026-03-09', 'America/New_York').toISOString(), '2026-03-09T04:00:00.000Z')
  // Santiago skips midnight on 6 September 2026 (00:00 becomes 01:00): the day begins at 01:00
  t.equal(isoInZone(startOfLocalDay('2026-09-06', 'America/Santiago'), 'America/Santiago'), '2026-09-06T01:00:00-03:00')
  // Havana repeats midnight on 1 November 2026: the day begins at the first 00:00
  t.equal(startOfLocalDay('2026-11-01', 'America/Havana').toISOString(), '2026-11-01T04:00:00.000Z')
  t.equal(isoInZone(new Date('2026-03-10T09:00:00.500Z'), 'Africa/Dar_es_Salaam'), '2026-03-10T12:00:00+03:00')

  const march = billingPeriodOf('2026-03', 'Africa/Dar_es_Salaam')
  t.equal(daysRemaining(march, new Date('2026-03-10T09:00:00Z')), 22, 'the 10th to the 31st, today included')
  t.equal(daysRemaining(march, new Date('2026-03-31T20:00:00Z')), 1)
  t.equal(daysRemaining(march, new Date('2026-03-31T21:00:00Z')), 0, 'over once April begins locally')
})

t.test('usage against the allowance', async (t) => {
  const free = planById('free')
  t.same(allowanceOf(free, { smsMessages: 3, smsParts: 6, whatsappMessages: 2 }, pricing), {
    includedSmsParts: 100,
    smsPartsUsed: 6,
    remainingSmsParts: 94,
    overageSmsParts: 0,
    includedWhatsappMessages: 50,
    whatsappMessagesUsed: 2,
    remainingWhatsappMessages: 48,
    overageWhatsappMessages: 0,
    usagePercentage: 6,
    estimatedOverageCost: 0,
    balanceValue: 23.5,
  })
  t.match(allowanceOf(free, { smsMessages: 40, smsParts: 103, whatsappMessages: 53 }, pricing), {
    remainingSmsParts: 0,
    overageSmsParts: 3,
    overageWhatsappMessages: 3,
    usagePercentage: 103,
    estimatedOverageCost: 2.25,
    balanceValue: 0,
  })
  t.equal(allowanceOf(free, { smsMessages: 1, smsParts: 1, whatsappMessages: 0 }, { currency: 'USD', perPart: { sms: 0.1, whatsapp: 0.2 } }).balanceValue, 9.9, 'money is rounded to cents')
})

t.test('the catalogue and the subscription', async (t) => {
  t.same(PLANS.map((plan) => plan.id), ['free', 'starter', 'business', 'enterprise'])
  for (let i = 1; i < PLANS.length; i++) {
    t.ok(PLANS[i]!.monthlyPrice > PLANS[i - 1]!.monthlyPrice && PLANS[i]!.includedSmsParts > PLANS[i - 1]!.includedSmsParts, `${PLANS[i]!.id} costs and includes more than ${PLANS[i - 1]!.id}`)
  }
  const tenant = { tenantId: '7d0f0a8e-4f3b-4b59-9c57-1f1a8f1e2b3c', createdAt: '2026-03-10T09:00:00.000Z' }
  const subscription = subscriptionOf(tenant)
  t.match(subscription, { tenantId: tenant.tenantId, status: 'active', createdAt: tenant.createdAt, plan: { id: 'free' } })
  t.equal(subscriptionOf(tenant).id, subscription.id, 'the id is stable')
  t.not(subscriptionOf({ ...tenant, tenantId: 'a9e4c1d2-0000-4000-8000-000000000001' }).id, subscription.id)
})
