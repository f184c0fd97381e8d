import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { MessagingClient } from '../support/messagingFixtures.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

/**
 * The SMS helpers: the phone number check (a check, never a refusal for a bad number, and it
 * appends nothing), the SMS balance of the billing period and the SMS statistics, with the period
 * and day boundaries taken in the tenant's time zone (Dar es Salaam, UTC+3).
 */
const VALIDATE = '/api/messaging/sms/validate-phone/'
const BALANCE = '/api/messaging/sms/balance/'
const STATS = '/api/messaging/sms/stats/'

t.test('validate-phone', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'sms_validate' })
  const session = await registerUser(app)
  const validate = (payload?: unknown) => app.inject(as(session, { method: 'POST', url: VALIDATE, ...(payload === undefined ? {} : { payload: payload as object }) }))
  const before = await committedEventCount(services.database.db)

  const local = await validate({ phone_number: '0712 345 678' })
  t.equal(local.statusCode, 200)
  t.same(local.json(), {
    success: true,
    data: {
      phone_number: '0712 345 678',
      is_valid: true,
      phone_e164: '+255712345678',
      country: 'TZ',
      national_format: '0712 345 678',
      international_format: '+255 712 345 678',
      type: 'mobile',
    },
  })

  const alias = await validate({ phone: '+254 722 000 000' })
  t.match(alias.json(), { success: true, data: { phone_number: '+254 722 000 000', is_valid: true, phone_e164: '+254722000000', country: 'KE', national_format: '0722 000000' } })
  const international = await validate({ phone_number: '00442071838750' })
  t.match(international.json().data, { is_valid: true, phone_e164: '+442071838750', country: 'GB', type: 'fixed_line' })
  const otherCountry = await validate({ phone_number: '0722 000000', country: 'ke' })
  t.match(otherCountry.json().data, { is_valid: true, phone_e164: '+254722000000', country: 'KE' })

  for (const bad of ['not a phone', '12', '+255 712', '0800 123 4567 89']) {
    const response = await validate({ phone_number: bad })
    t.equal(response.statusCode, 200, `"${bad}" is an answer, not a refusal`)
    t.same(response.json(), {
      success: true,
      data: { phone_number: bad, is_valid: false, phone_e164: null, country: null, national_format: null, international_format: null, type: null },
    })
  }

  // bad input: 400 in the spec's format
  for (const [payload, field] of [
    [{}, 'phone_number'],
    [undefined, 'phone_number'],
    [{ phone_number: '   ' }, 'phone_number'],
    [{ phone_number: 255712345678 }, 'phone_number'],
    [{ phone_number: 'x'.repeat(65) }, 'phone_number'],
    [{ phone_number: '0712345678', country: 'XX' }, 'country'],
    [{ phone_number: '0712345678', country: 'Tanzania' }, 'country'],
  ] as const) {
    const response = await validate(payload)
    t.equal(response.statusCode, 400, `${JSON.stringify(payload)} is refused`)
    t.match(response.json(), { success: false, message: 'Validation failed', errors: { [field]: [String] } })
  }
  const malformed = await app.inject(as(session, { method: 'POST', url: VALIDATE, payload: '{"phone_number":', headers: { 'content-type': 'application/json' } }))
  t.equal(malformed.statusCode, 400)

  const anonymous = await app.inject({ method: 'POST', url: VALIDATE, payload: { phone_number: '0712345678' } })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })

  t.equal(await committedEventCount(services.database.db), before, 'a check appends nothing')

  // local numbers are read in the tenant's current country
  const moved = await app.inject(as(session, { method: 'PUT', url: `/api/tenants/${session.tenantId}/`, payload: { country: 'KE' } }))
  t.equal(moved.statusCode, 200, moved.body)
  t.match((await validate({ phone_number: '0722 000000' })).json().data, { is_valid: true, phone_e164: '+254722000000', country: 'KE' })
})

t.test('balance and statistics in the tenant time zone', async (t) => {
  // 23:59:59 on Saturday 28 February in Dar es Salaam
  const clock = new ManualClock('2026-02-28T20:59:59Z')
  const { app } = await startTestApp(t, { clock, label: 'sms_balance' })
  const alice = new MessagingClient(app, await registerUser(app, { tenant_name: 'Alice Ltd' }))
  const bob = new MessagingClient(app, await registerUser(app, { tenant_name: 'Bob Ltd' }))

  const sms = await alice.conversation('+255700000001')
  const whatsapp = await alice.conversation('+255700000002', 'whatsapp')
  const bobSms = await bob.conversation('+255700000001')

  const fresh = await alice.get(BALANCE)
  t.same(fresh, {
    success: true,
    data: {
      balance: 100,
      currency: 'USD',
      value: 25,
      price_per_part: 0.25,
      plan: 'free',
      period_start: '2026-02-01T00:00:00+03:00',
      period_end: '2026-02-28T23:59:59+03:00',
      included_parts: 100,
      included_parts_spent: 0,
      purchased_parts: 0,
      used_parts: 0,
    },
  })

  // the last second of February (local): a one-part message in February's period
  await alice.send(sms, 'Habari, your order has shipped')

  // 00:30 on Sunday 1 March local, still 28 February in UTC: March's period
  clock.set('2026-02-28T21:30:00Z')
  const march = await alice.get(BALANCE)
  t.match(march.data, { balance: 100, used_parts: 0, period_start: '2026-03-01T00:00:00+03:00', period_end: '2026-03-31T23:59:59+03:00' }, 'a new period, a full balance')
  const sundayFirst = await alice.send(sms, 'x'.repeat(161)) // GSM-7 over 160: 2 parts
  // Sunday 8 March: last week
  clock.set('2026-03-08T10:00:00Z')
  const sunday = await alice.send(sms, 'Karibu tena 😀') // an emoji: UCS-2, 1 part
  // Monday 9 March, 09:00 local: this week
  clock.set('2026-03-09T06:00:00Z')
  const monday = await alice.send(sms, 'ł'.repeat(71)) // UCS-2 over 70: 2 parts
  // Tuesday 10 March, 12:00 local: today
  clock.set('2026-03-10T09:00:00Z')
  const today1 = await alice.send(sms, '€'.repeat(81)) // € takes two septets: 162, 2 parts
  const today2 = await alice.send(sms, 'a'.repeat(307)) // 3 parts of 153
  await alice.send(whatsapp, 'w'.repeat(1000)) // WhatsApp: one message, never SMS parts
  await bob.send(bobSms, 'b'.repeat(500)) // another tenant: never counted here

  await alice.post(`/api/messaging/messages/${monday}/status/`, { status: 'read' })
  await alice.post(`/api/messaging/messages/${today1}/status/`, { status: 'delivered' })
  await alice.post(`/api/messaging/messages/${today2}/status/`, { status: 'failed', reason: 'Absent subscriber' })
  await alice.post(`/api/messaging/messages/${sundayFirst}/status/`, { status: 'sent' })
  void sunday

  const balance = await alice.get(BALANCE)
  t.same(balance.data, {
    balance: 90,
    currency: 'USD',
    value: 22.5,
    price_per_part: 0.25,
    plan: 'free',
    period_start: '2026-03-01T00:00:00+03:00',
    period_end: '2026-03-31T23:59:59+03:00',
    included_parts: 100,
    included_parts_spent: 10,
    purchased_parts: 0,
    used_parts: 10, // 2 + 1 + 2 + 2 + 3
  })

  const stats = await alice.get(STATS)
  t.same(stats, {
    success: true,
    data: {
      total_sent: 6, // every SMS ever sent, February's included
      delivered: 2, // delivered, or read
      failed: 1,
      pending: 3, // queued or sent
      received: 0,
      delivery_rate: 33.3,
      sent_today: 2,
      sent_this_week: 3, // from Monday
      sent_this_month: 5, // from 00:30 on the 1st
      parts_used_this_period: 10,
      period_start: '2026-03-01T00:00:00+03:00',
      period_end: '2026-03-31T23:59:59+03:00',
      timezone: 'Africa/Dar_es_Salaam',
    },
  })

  const bobStats = (await bob.get(STATS)).data
  t.match(bobStats, { total_sent: 1, sent_today: 1, parts_used_this_period: 4 })
  t.match((await bob.get(BALANCE)).data, { balance: 96, used_parts: 4 })

  // a reply is received, not sent
  await alice.post('/api/messaging/messages/', { conversation_id: sms, direction: 'inbound', content: 'Asante!' })
  t.match((await alice.get(STATS)).data, { total_sent: 6, received: 1, sent_today: 2 })

  // April begins at local midnight: the balance is whole again, the month's count starts over
  clock.set('2026-03-31T20:59:59Z')
  t.match((await alice.get(BALANCE)).data, { balance: 90, period_end: '2026-03-31T23:59:59+03:00' })
  clock.set('2026-03-31T21:00:00Z')
  t.match((await alice.get(BALANCE)).data, { balance: 100, used_parts: 0, period_start: '2026-04-01T00:00:00+03:00', period_end: '2026-04-30T23:59:59+03:00' })
  t.match((await alice.get(STATS)).data, { total_sent: 6, sent_today: 0, sent_this_week: 0, sent_this_month: 0, parts_used_this_period: 0 })

  await t.test('refusals', async (t) => {
    for (const url of [BALANCE, STATS]) {
      const anonymous = await app.inject({ method: 'GET', url })
      t.equal(anonymous.statusCode, 401)
      t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })
      const bad = await app.inject(as(alice.session, { method: 'GET', url: `${url}?min_position=later` }))
      t.equal(bad.statusCode, 400)
      t.match(bad.json(), { success: false, message: 'Validation failed', errors: { min_position: [String] } })
    }
  })
})
