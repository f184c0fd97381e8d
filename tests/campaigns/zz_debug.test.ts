import t from 'tap'
import { registerUser, startTestApp } from '../support/testApp.ts'
import { campaignFixtures } from './campaignFixtures.ts'
t.test('debug', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'dbg' })
  const { request, ok, createContact } = campaignFixtures(app, services)
  const s = await registerUser(app)
  const john = await createContact(s, { name: 'John', phone_e164: '+255700000001' })
  const optin = await ok(request(s, 'POST', `/api/messaging/contacts/${john}/opt-in/`))
  console.log('optin', JSON.stringify(optin))
  await services.engine.waitForAll(optin.position, 20000)
  console.log(JSON.stringify(await services.recipientDirectory.resolve(s.tenantId, { contactIds: [john], criteria: [] })))
  console.log(JSON.stringify(await services.recipientDirectory.eligibleRecipients(s.tenantId, [john])))
  const { events } = await services.store.readStream(`contact-${john}`)
  console.log(JSON.stringify(events.map((e) => [e.type, e.data])))
})
