import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { topUpCredits } from '../support/credits.ts'
import { MessagingClient } from '../support/messagingFixtures.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

/**
 * Billing over HTTP: the plan catalogue, the subscription, usage (message parts by channel and by
 * day, the overage beyond the free plan) and the overview, for a tenant in New York, whose periods
 * begin at local midnight and whose March has a daylight-saving change. Prices come from the
 * configuration (TZS here).
 */
const PRICING_ENV = { PRICE_CURRENCY: 'TZS', PRICE_PER_PART_SMS: '20', PRICE_PER_PART_WHATSAPP: '50' }

const PLAN_FIELDS = [
  'billing_interval',
  'currency',
  'description',
  'features',
  'id',
  'included_sms_parts',
  'included_whatsapp_messages',
  'is_current',
  'max_contacts',
  'name',
  'price',
  'price_per_extra_sms_part',
  'price_per_extra_whatsapp_message',
]

const zeroDay = (date: string) => ({ date, sms_messages: 0, sms_parts: 0, whatsapp_messages: 0 })

t.test('billing', async (t) => {
  const clock = new ManualClock('2026-02-27T12:00:00Z')
  const { app, services } = await startTestApp(t, { clock, label: 'billing', env: PRICING_ENV })
  const aliceSession = await registerUser(app, { tenant_name: 'Brooklyn Roasters', timezone: 'America/New_York' })
  // beyond the free plan's 100 parts this test needs purchased credits (usage still counts every part)
  await topUpCredits(services, aliceSession.tenantId, 1000)
  const alice = new MessagingClient(app, aliceSession)
  const bob = new MessagingClient(app, await registerUser(app, { tenant_name: 'Dar Traders' }))
  const sms = await alice.conversation('+255700000001')
  const whatsapp = await alice.conversation('+255700000002', 'whatsapp')
  const bobSms = await bob.conversation('+255700000001')

  await t.test('plans', async (t) => {
    const plans = await alice.get('/api/billing/plans/')
    t.equal(plans.success, true)
    t.same(Object.keys(plans.data).sort(), ['count', 'next', 'previous', 'results'])
    t.equal(plans.data.count, 4)
    t.equal(plans.data.next, null)
    t.equal(plans.data.previous, null)
    t.same(plans.data.results.map((plan: { id: string }) => plan.id), ['free', 'starter', 'business', 'enterprise'])
    for (const plan of plans.data.results) t.same(Object.keys(plan).sort(), PLAN_FIELDS, `${plan.id} has every field`)
    t.same(plans.data.results[0], {
      id: 'free',
      name: 'Free',
      description: 'For trying the platform out',
      price: 0,
      currency: 'TZS',
      billing_interval: 'month',
      included_sms_parts: 100,
      included_whatsapp_messages: 50,
      max_contacts: 500,
      price_per_extra_sms_part: 20,
      price_per_extra_whatsapp_message: 50,
      features: ['SMS and WhatsApp messaging', 'Contact management with opt-in tracking', 'Message templates', 'Conversations', 'Campaigns', 'Dashboard analytics'],
      is_current: true,
    })
    t.same(plans.data.results.map((plan: { is_current: boolean }) => plan.is_current), [true, false, false, false])
    t.equal(plans.data.results[3].max_contacts, null, 'enterprise has no contact limit')

    const page = await alice.get('/api/billing/plans/?page=2&page_size=3')
    t.same(page.data.results.map((plan: { id: string }) => plan.id), ['enterprise'])
    t.equal(page.data.count, 4)
    t.equal(page.data.next, null)
    t.match(page.data.previous, /\/api\/billing\/plans\/\?.*page=1/)
  })

  // the last second of February in New York: February's period
  clock.set('2026-03-01T04:59:59Z')
  await alice.send(sms, 'Last of February')
  // 00:30 on 1 March in New York (05:30 UTC)
  clock.set('2026-03-01T05:30:00Z')
  await alice.send(sms, 'Hello')
  // 23:30 on Sunday 8 March, after the switch to daylight time (03:30 UTC on the 9th)
  clock.set('2026-03-09T03:30:00Z')
  await alice.send(sms, 'a'.repeat(161)) // 2 parts
  // Tuesday 10 March, 10:00 in New York
  clock.set('2026-03-10T14:00:00Z')
  await alice.send(sms, 'ł'.repeat(4000)) // UCS-2: 60 parts of 67
  await alice.send(sms, 'ł'.repeat(2000)) // 30 parts
  await alice.send(sms, 'a'.repeat(1836)) // GSM-7: 12 parts of 153
  for (let i = 0; i < 51; i++) await alice.send(whatsapp, `WhatsApp message ${i} ${'w'.repeat(500)}`)
  await bob.send(bobSms, 'b'.repeat(1000)) // another tenant's, never counted here

  await t.test('subscription', async (t) => {
    const subscription = await alice.get('/api/billing/subscription/')
    t.equal(subscription.success, true)
    t.match(subscription.data, {
      id: String,
      plan: { id: 'free', name: 'Free', price: 0, currency: 'TZS', is_current: true },
      status: 'active',
      current_period_start: '2026-03-01T00:00:00-05:00',
      current_period_end: '2026-03-31T23:59:59-04:00',
      days_remaining: 22,
      cancel_at_period_end: false,
      timezone: 'America/New_York',
      created_at: '2026-02-27T12:00:00.000Z',
    })
    t.same(Object.keys(subscription.data).sort(), ['cancel_at_period_end', 'created_at', 'current_period_end', 'current_period_start', 'days_remaining', 'id', 'plan', 'status', 'timezone'])
    t.equal((await alice.get('/api/billing/subscription/')).data.id, subscription.data.id, 'a stable id')
    t.not((await bob.get('/api/billing/subscription/')).data.id, subscription.data.id)
    t.match((await bob.get('/api/billing/subscription/')).data, { current_period_start: '2026-03-01T00:00:00+03:00', timezone: 'Africa/Dar_es_Salaam' })
  })

  const expectedUsage = {
    period: '2026-03',
    period_start: '2026-03-01T00:00:00-05:00',
    period_end: '2026-03-31T23:59:59-04:00',
    timezone: 'America/New_York',
    plan: 'free',
    currency: 'TZS',
    sms_messages: 5,
    sms_parts_used: 105,
    whatsapp_messages: 51,
    included_parts: 100,
    remaining_parts: 0,
    usage_percentage: 105,
    estimated_overage_cost: 150, // 5 SMS parts × 20 + 1 WhatsApp message × 50
    by_channel: {
      sms: { messages: 5, parts: 105, included: 100, remaining: 0, overage: 5, overage_cost: 100 },
      whatsapp: { messages: 51, parts: 51, included: 50, remaining: 0, overage: 1, overage_cost: 50 },
    },
  }

  await t.test('usage', async (t) => {
    const usage = await alice.get('/api/billing/usage/')
    t.equal(usage.success, true)
    const { by_day: byDay, ...summary } = usage.data
    t.same(summary, expectedUsage)
    t.equal(byDay.length, 10, 'every day of the period so far')
    t.same(byDay[0], { date: '2026-03-01', sms_messages: 1, sms_parts: 1, whatsapp_messages: 0 })
    t.same(byDay[6], { date: '2026-03-07', sms_messages: 0, sms_parts: 0, whatsapp_messages: 0 })
    t.same(byDay[7], { date: '2026-03-08', sms_messages: 1, sms_parts: 2, whatsapp_messages: 0 }, 'counted on the local day, not the UTC one')
    t.same(byDay[8], zeroDay('2026-03-09'))
    t.same(byDay[9], { date: '2026-03-10', sms_messages: 3, sms_parts: 102, whatsapp_messages: 51 })

    const february = (await alice.get('/api/billing/usage/?period=2026-02')).data
    t.match(february, { period: '2026-02', period_start: '2026-02-01T00:00:00-05:00', period_end: '2026-02-28T23:59:59-05:00', sms_messages: 1, sms_parts_used: 1, remaining_parts: 99, estimated_overage_cost: 0 })
    t.equal(february.by_day.length, 28, 'a past period shows all its days')
    t.same(february.by_day[27], { date: '2026-02-28', sms_messages: 1, sms_parts: 1, whatsapp_messages: 0 })

    const bobs = (await bob.get('/api/billing/usage/')).data
    t.match(bobs, { sms_messages: 1, sms_parts_used: 7, whatsapp_messages: 0, remaining_parts: 93, timezone: 'Africa/Dar_es_Salaam' })

    for (const period of ['2026-04', '2026-13', 'march', '2026-3']) {
      const response = await alice.app.inject(as(alice.session, { method: 'GET', url: `/api/billing/usage/?period=${period}` }))
      t.equal(response.statusCode, 400, `period ${period} is refused`)
      t.match(response.json(), { success: false, message: 'Validation failed', errors: { period: [String] } })
    }
  })

  await t.test('overview', async (t) => {
    const overview = await alice.get('/api/billing/overview/')
    t.equal(overview.success, true)
    t.same(Object.keys(overview.data).sort(), ['balance', 'generated_at', 'plan', 'subscription', 'usage'])
    t.match(overview.data.plan, { id: 'free', currency: 'TZS' })
    t.match(overview.data.subscription, { status: 'active', current_period_start: '2026-03-01T00:00:00-05:00', plan: { id: 'free' } })
    t.same(overview.data.usage, expectedUsage)
    // 105 parts sent: the 100 included ones, then 5 of the 1,000 purchased
    t.same(overview.data.balance, {
      balance: 995,
      currency: 'TZS',
      value: 19900,
      price_per_part: 20,
      plan: 'free',
      period_start: '2026-03-01T00:00:00-05:00',
      period_end: '2026-03-31T23:59:59-04:00',
      included_parts: 100,
      included_parts_spent: 100,
      purchased_parts: 995,
      used_parts: 105,
    })
    t.equal(overview.data.generated_at, clock.now().toISOString())
    t.same((await alice.get('/api/messaging/sms/balance/')).data, overview.data.balance, 'the SMS balance is the same answer')
  })

  await t.test('the period ends at local midnight', async (t) => {
    clock.set('2026-04-01T03:59:59Z') // 23:59:59 on 31 March in New York
    t.match((await alice.get('/api/billing/usage/')).data, { period: '2026-03', sms_parts_used: 105 })
    t.match((await alice.get('/api/billing/subscription/')).data, { days_remaining: 1 })
    clock.set('2026-04-01T04:00:00Z')
    const april = (await alice.get('/api/billing/usage/')).data
    t.match(april, { period: '2026-04', period_start: '2026-04-01T00:00:00-04:00', period_end: '2026-04-30T23:59:59-04:00', sms_parts_used: 0, remaining_parts: 100, estimated_overage_cost: 0 })
    t.same(april.by_day, [zeroDay('2026-04-01')])
    t.match((await alice.get('/api/billing/subscription/')).data, { current_period_start: '2026-04-01T00:00:00-04:00', days_remaining: 30 })
    t.match((await alice.get('/api/billing/overview/')).data.balance, { balance: 1095, value: 21900, included_parts_spent: 0, purchased_parts: 995 }, 'a new period brings the plan\'s parts again; purchased credits stay')
    t.match((await alice.get('/api/billing/usage/?period=2026-03')).data, { sms_parts_used: 105 }, 'March stays on record')
  })

  await t.test('refusals', async (t) => {
    for (const url of ['/api/billing/plans/', '/api/billing/subscription/', '/api/billing/usage/', '/api/billing/overview/']) {
      const anonymous = await app.inject({ method: 'GET', url })
      t.equal(anonymous.statusCode, 401, `${url} needs a token`)
      t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })
      const withoutSlash = await app.inject(as(alice.session, { method: 'GET', url: url.slice(0, -1) }))
      t.equal(withoutSlash.statusCode, 200, `${url} answers without its trailing slash`)
    }
    const badPage = await app.inject(as(alice.session, { method: 'GET', url: '/api/billing/plans/?page=0' }))
    t.equal(badPage.statusCode, 400)
    t.match(badPage.json(), { success: false, message: 'Validation failed', errors: { page: [String] } })
    const badPosition = await app.inject(as(alice.session, { method: 'GET', url: '/api/billing/overview/?min_position=-3' }))
    t.equal(badPosition.statusCode, 400)
    t.match(badPosition.json(), { errors: { min_position: [String] } })
  })
})
