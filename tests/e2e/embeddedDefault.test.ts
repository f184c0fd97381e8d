import t from 'tap'
import { buildApp, openServices } from '../../app.ts'
import { ManualClock } from '../../infra/clock.ts'
import { loadConfig } from '../../infra/config.ts'
import { eventually } from '../support/eventually.ts'
import { as, registerUser, TEST_JWT_SECRET } from '../support/testApp.ts'

/**
 * With no DATABASE_URL the service runs on the embedded PGlite database (one connection shared by
 * requests, projectors and the campaign sender): the same API, the same read models.
 */
t.test('the API on the embedded database', async (t) => {
  const config = loadConfig({ DATA_DIR: 'memory://', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent' })
  t.equal(config.databaseUrl, undefined, 'no database URL: embedded')
  const clock = new ManualClock('2026-05-04T08:00:00Z')
  const services = await openServices(config, { clock })
  const app = await buildApp(services)
  t.teardown(async () => {
    await app.close()
    await services.close()
  })
  t.equal(services.database.engine, 'pglite')

  const session = await registerUser(app)
  const contact = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'Neema', phone_e164: '+255754000001', is_opted_in: true } }))
  t.equal(contact.statusCode, 201, contact.body)
  const campaign = await app.inject(as(session, { method: 'POST', url: '/api/messaging/campaigns/', payload: { name: 'Karibu', message_text: 'Karibu!', target_contact_ids: [contact.json().data.id] } }))
  t.equal(campaign.statusCode, 201, campaign.body)
  const started = await app.inject(as(session, { method: 'POST', url: `/api/messaging/campaigns/${campaign.json().data.id}/start/` }))
  t.equal(started.statusCode, 200, started.body)

  // the whole pipeline runs in the process: the campaign sender queues the message, the send
  // worker hands it to the (simulated) provider, its reports come back
  const messages = await eventually(
    async () => (await app.inject(as(session, { method: 'GET', url: `/api/messaging/messages/?campaign_id=${campaign.json().data.id}` }))).json().data,
    (data) => data.count === 1 && data.results[0].status !== 'queued',
  )
  t.ok(['sent', 'delivered', 'read', 'failed'].includes(messages.results[0].status), `the message left: ${messages.results[0].status}`)

  const recent = await app.inject(as(session, { method: 'GET', url: `/api/messaging/activity/recent/?min_position=${started.json().position}` }))
  t.equal(recent.headers['x-read-model-caught-up'], 'true')
  // newest first; the campaign may already have completed (its one message can fail at once on
  // the simulator), and then its completion tops the list
  const types: string[] = recent.json().data.activities.map((a: { type: string }) => a.type)
  const expected = types[0] === 'campaign_completed' ? ['campaign_completed', 'campaign_started', 'contact_added'] : ['campaign_started', 'contact_added']
  t.same(types, expected, `recent activity: ${types.join(', ')}`)
  const statistics = await app.inject(as(session, { method: 'GET', url: `/api/messaging/activity/statistics/?min_position=${started.json().position}` }))
  t.equal(statistics.json().data.today.campaigns_launched, 1)
})
