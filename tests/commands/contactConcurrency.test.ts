import t from 'tap'
import { buildApp, openServices } from '../../app.ts'
import { contactKeyStream, contactStream } from '../../commands/contacts/contactCommands.ts'
import { loadConfig } from '../../infra/config.ts'
import type { EventStore, RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { waitForHead } from '../support/eventLog.ts'
import { as, registerUser, startTestApp, TEST_JWT_SECRET } from '../support/testApp.ts'

/**
 * Uniqueness of a contact's phone and email within a tenant holds under concurrent upserts: many
 * clients racing on the same key all get an answer, and the log holds one contact for that key.
 */

const lastPosition = (responses: { json(): unknown }[]): number =>
  Math.max(...responses.map((response) => (response.json() as { position?: number }).position ?? 0))

async function eventsOf(store: EventStore, eventTypes: string[], tenantId: string): Promise<RecordedEvent[]> {
  const found: RecordedEvent[] = []
  let after = 0
  for (;;) {
    const slice = await store.readAll({ after, eventTypes, limit: 1000 })
    found.push(...slice.events.filter((event) => event.metadata.tenantId === tenantId))
    if (slice.events.length < 1000) return found
    after = slice.events.at(-1)!.position
  }
}

const CONCURRENT = 50

t.test('50 concurrent upserts of the same phone make one contact', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'contact_race' })
  const session = await registerUser(app)
  const phone = '+255712000001'

  const responses = await Promise.all(
    Array.from({ length: CONCURRENT }, (_, i) =>
      app.inject(as(session, {
        method: 'POST',
        url: '/api/messaging/contacts/',
        // every third client also brings an email of its own
        payload: i % 3 === 0 ? { name: `Racer ${i}`, phone_e164: phone, email: `racer${i}@example.com` } : { name: `Racer ${i}`, phone_e164: phone },
      })),
    ),
  )

  const failures = responses.filter((response) => ![200, 201].includes(response.statusCode) || response.json().success !== true)
  t.same(failures.map((response) => `${response.statusCode} ${response.body}`), [], 'no client gets an error')
  const bodies = responses.map((response) => response.json())
  const created = bodies.filter((body) => body.data.upserted === false)
  t.equal(created.length, 1, 'exactly one upsert created the contact')
  t.equal(responses.filter((response) => response.statusCode === 201).length, 1, 'exactly one 201')
  const ids = new Set(bodies.map((body) => body.data.id))
  t.equal(ids.size, 1, 'every client got the same contact')
  t.ok(bodies.every((body) => body.data.phone_e164 === phone))

  await waitForHead(services.store, lastPosition(responses))
  const contactCreated = await eventsOf(services.store, ['contactCreated'], session.tenantId)
  t.equal(contactCreated.length, 1, 'one contactCreated in the tenant')
  t.equal((contactCreated[0]!.data as { contactId: string }).contactId, [...ids][0])

  const claims = await eventsOf(services.store, ['contactKeyClaimed'], session.tenantId)
  const phoneClaims = claims.filter((event) => (event.data as { kind: string; key: string }).kind === 'phone')
  t.equal(phoneClaims.length, 1, 'the phone was claimed once')
  t.same(phoneClaims[0]!.data, { key: phone, kind: 'phone', contactId: [...ids][0] })

  // the contact ends with exactly one email claim held: the last email written is the one held
  const releases = await eventsOf(services.store, ['contactKeyReleased'], session.tenantId)
  const emailClaims = claims.filter((event) => (event.data as { kind: string }).kind === 'email')
  t.equal(emailClaims.length - releases.length, 1, 'one email key is held at the end')

  const held = emailClaims.map((event) => (event.data as { key: string }).key).filter((key) => !releases.some((r) => (r.data as { key: string }).key === key))
  const final = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { phone_e164: phone } }))
  t.equal(final.statusCode, 200)
  t.same(held, [final.json().data.email], 'the held email key is the contact’s email')
})

t.test('three service instances on one database racing on the same phone make one contact', async (t) => {
  // upserts queue per key inside one process; between processes only the key streams decide
  const { app, services, database, clock } = await startTestApp(t, { label: 'contact_instances' })
  const session = await registerUser(app)
  const config = loadConfig({ DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent' })
  const others = await Promise.all([1, 2].map(async () => {
    const otherServices = await openServices(config, { clock })
    return { services: otherServices, app: await buildApp(otherServices) }
  }))
  try {
    const apps = [app, ...others.map((other) => other.app)]
    const phone = '+255712000005'
    const responses = await Promise.all(
      Array.from({ length: 45 }, (_, i) =>
        apps[i % apps.length]!.inject(as(session, {
          method: 'POST',
          url: '/api/messaging/contacts/',
          payload: i % 2 === 0 ? { name: `Node ${i}`, phone_e164: phone, email: `node${i}@example.com` } : { name: `Node ${i}`, phone_e164: phone },
        })),
      ),
    )
    t.same(responses.filter((response) => response.statusCode !== 200 && response.statusCode !== 201).map((response) => response.body), [], 'no client gets an error')
    t.equal(responses.filter((response) => response.json().data?.upserted === false).length, 1, 'one creation')
    t.equal(new Set(responses.map((response) => response.json().data?.id)).size, 1, 'one contact id')
    await waitForHead(services.store, lastPosition(responses))
    t.equal((await eventsOf(services.store, ['contactCreated'], session.tenantId)).length, 1)
    const claims = await eventsOf(services.store, ['contactKeyClaimed'], session.tenantId)
    t.equal(claims.filter((event) => (event.data as { kind: string }).kind === 'phone').length, 1, 'the phone was claimed once')
  } finally {
    for (const other of others) {
      await other.app.close()
      await other.services.close()
    }
  }
})

t.test('the same phone in two tenants makes two contacts', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'contact_tenants' })
  const first = await registerUser(app)
  const second = await registerUser(app)
  t.not(first.tenantId, second.tenantId)
  const phone = '+255712000002'

  const responses = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      app.inject(as(i % 2 === 0 ? first : second, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: `N${i}`, phone_e164: phone } })),
    ),
  )
  t.ok(responses.every((response) => response.statusCode === 200 || response.statusCode === 201), 'no errors')
  const idsOf = (parity: number) => new Set(responses.filter((_, i) => i % 2 === parity).map((response) => response.json().data.id as string))
  const firstIds = idsOf(0)
  const secondIds = idsOf(1)
  t.equal(firstIds.size, 1)
  t.equal(secondIds.size, 1)
  t.not([...firstIds][0], [...secondIds][0], 'one contact per tenant')
  t.equal(responses.filter((response) => response.statusCode === 201).length, 2, 'one creation in each tenant')

  await waitForHead(services.store, lastPosition(responses))

  t.equal((await eventsOf(services.store, ['contactCreated'], first.tenantId)).length, 1)
  t.equal((await eventsOf(services.store, ['contactCreated'], second.tenantId)).length, 1)
})

t.test('phone of one contact and email of another: 409 CONTACT_CONFLICT, nothing appended', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'contact_conflict' })
  const session = await registerUser(app)
  const a = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'A', phone_e164: '+255712000003', email: 'a@example.com' } }))
  const b = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'B', phone_e164: '+255712000004', email: 'b@example.com' } }))
  t.equal(a.statusCode, 201)
  t.equal(b.statusCode, 201)
  const aId = a.json().data.id
  const bId = b.json().data.id

  await waitForHead(services.store, lastPosition([a, b]))
  const streams = [
    contactStream(aId),
    contactStream(bId),
    contactKeyStream('phone', session.tenantId, '+255712000003'),
    contactKeyStream('email', session.tenantId, 'b@example.com'),
  ]
  const versions = async () => Promise.all(streams.map(async (name) => (await services.store.readStream(name)).version))
  const versionsBefore = await versions()
  const before = await services.store.headPosition()
  const responses = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: `Mixed ${i}`, phone_e164: '+255712000003', email: 'B@example.com' } })),
    ),
  )
  for (const response of responses) {
    t.equal(response.statusCode, 409)
    t.same(response.json(), {
      success: false,
      message: 'The phone number and the email belong to two different contacts',
      error_code: 'CONTACT_CONFLICT',
      details: { phone_contact_id: aId, email_contact_id: bId },
    })
  }
  t.equal(await services.store.headPosition(), before, 'nothing was appended')
  t.same(await versions(), versionsBefore, 'no stream involved moved')
})
