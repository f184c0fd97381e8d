import t from 'tap'
import { randomUUID } from 'node:crypto'
import { contactCriteriaFrom } from '../../commands/contactCriteria.ts'
import { resolutionExplanations } from '../../projections/recipientResolution.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

/** Recipient resolution over the contact read model: union, deduplication, every exclusion reason. */
t.test('campaign targets resolve to eligible recipients with reasons for the rest', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'resolution' })
  const session = await registerUser(app)
  const other = await registerUser(app)
  const add = async (payload: object, who = session) => {
    const response = await app.inject(as(who, { method: 'POST', url: '/api/messaging/contacts/', payload }))
    t.equal(response.statusCode, 201, response.body)
    return response.json().data.id as string
  }
  const post = (url: string, payload?: object) => app.inject(as(session, { method: 'POST', url, ...(payload ? { payload } : {}) }))

  const vipIn = await add({ name: 'Vip In', phone_e164: '+255711000001', tags: ['vip'], attributes: { city: 'Arusha' }, is_opted_in: true })
  const vipIn2 = await add({ name: 'Vip In 2', phone_e164: '+255711000002', tags: ['vip', 'premium'], attributes: { city: 'Dodoma' }, is_opted_in: true })
  const vipOut = await add({ name: 'Vip Out', phone_e164: '+255711000003', tags: ['vip'] })
  await post(`/api/messaging/contacts/${vipOut}/opt-in/`)
  await post(`/api/messaging/contacts/${vipOut}/opt-out/`, { reason: 'Asked' })
  const never = await add({ name: 'Never', phone_e164: '+255711000004', tags: ['premium'] })
  const emailOnly = await add({ name: 'Email Only', email: 'e@example.com', tags: ['premium'], is_opted_in: true })
  const inactive = await add({ name: 'Inactive', phone_e164: '+255711000005', tags: ['vip'], is_active: false, is_opted_in: true })
  const deleted = await add({ name: 'Deleted', phone_e164: '+255711000006', is_opted_in: true })
  const lastDelete = await app.inject(as(session, { method: 'DELETE', url: `/api/messaging/contacts/${deleted}/` }))
  const strangers = await add({ name: 'Other tenant', phone_e164: '+255711000007', is_opted_in: true }, other)
  await services.engine.waitForAll(lastDelete.json().position, 20_000)

  const resolution = await services.recipientDirectory.resolve(session.tenantId, {
    contactIds: [vipIn, vipIn, never, deleted, strangers, randomUUID(), emailOnly],
    criteria: [contactCriteriaFrom({ tags: ['vip'] }), contactCriteriaFrom({ tags: ['premium'], opt_in_status: 'opted_in' }), contactCriteriaFrom({ attributes: { city: 'Arusha' } })],
  })
  t.same(resolution.recipients.map((r) => r.contactId).sort(), [vipIn, vipIn2].sort(), 'only active, opted-in contacts with a phone')
  t.same(resolution.recipients.find((r) => r.contactId === vipIn)?.phone, '+255711000001')
  // references: 7 named + vip {vipIn, vipIn2, vipOut, inactive} + premium opted in {vipIn2, emailOnly} + Arusha {vipIn}
  t.equal(resolution.referenced, 7 + 4 + 2 + 1)
  const distinct = new Set([vipIn, never, deleted, strangers, emailOnly, vipIn2, vipOut, inactive]).size + 1
  t.equal(resolution.duplicates, resolution.referenced - distinct)
  t.same(resolution.excluded, { unknown: 2, deleted: 1, inactive: 1, optedOut: 1, notOptedIn: 1, invalidNumber: 1 })
  t.same(resolutionExplanations(resolution), [
    `Duplicates removed: ${resolution.duplicates} contacts`,
    'Opted-out contacts excluded: 1 contact',
    'Contacts never opted in excluded: 1 contact',
    'Invalid numbers excluded: 1 contact',
    'Inactive contacts excluded: 1 contact',
    'Deleted contacts excluded: 1 contact',
    'Unknown contacts excluded: 2 contacts',
  ])

  const nothing = await services.recipientDirectory.resolve(session.tenantId, { contactIds: [], criteria: [] })
  t.same(nothing, { recipients: [], referenced: 0, duplicates: 0, excluded: { unknown: 0, deleted: 0, inactive: 0, optedOut: 0, notOptedIn: 0, invalidNumber: 0 } })
})
