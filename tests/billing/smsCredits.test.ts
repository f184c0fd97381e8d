import t from 'tap'
import { topUpCredits } from '../support/credits.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

/**
 * Sending spends the tenant's SMS credits: a campaign reserves its recipients' parts at start (and
 * gets back what it did not send when it ends), a conversation message pays its parts when queued;
 * too few credits refuse the command with INSUFFICIENT_BALANCE and change nothing.
 */
t.test('campaigns and messages spend SMS credits, and are refused without enough', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'sms_credits' })
  const session = await registerUser(app)
  const call = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
    app.inject(as(session, { method, url, ...(payload === undefined ? {} : { payload: payload as object }) }))
  const balance = async () => (await call('GET', '/api/messaging/sms/balance/')).json().data

  const rows = Array.from({ length: 150 }, (_, i) => ({ name: `Mteja ${i}`, phone_e164: `+2557130${String(i).padStart(5, '0')}`, is_opted_in: true }))
  const imported = (await call('POST', '/api/messaging/contacts/bulk-import/', rows)).json()
  t.equal(imported.data.created, 150)
  const campaign = (await call('POST', '/api/messaging/campaigns/', { name: 'Big', message_text: 'Offer!', target_contact_ids: imported.data.results.map((r: { contact_id: string }) => r.contact_id) })).json().data
  t.equal(campaign.total_recipients, 150)
  t.match(await balance(), { balance: 100, included_parts: 100, purchased_parts: 0 })

  const before = await committedEventCount(services.database.db)
  const refused = await call('POST', `/api/messaging/campaigns/${campaign.id}/start/`)
  t.equal(refused.statusCode, 402)
  t.same(refused.json(), { success: false, message: 'Insufficient SMS balance', error_code: 'INSUFFICIENT_BALANCE', details: { required_parts: 150, available_parts: 100 } })
  t.equal(await committedEventCount(services.database.db), before, 'the refused start appended nothing')

  await topUpCredits(services, session.tenantId, 100)
  const started = await call('POST', `/api/messaging/campaigns/${campaign.id}/start/`)
  t.equal(started.statusCode, 200, started.body)
  t.match(await balance(), { balance: 50, included_parts_spent: 100, purchased_parts: 50 }, 'all recipients reserved at start')

  // nothing was sent (no workers in this test): completing gives every reserved part back
  const completed = await call('POST', `/api/messaging/campaigns/${campaign.id}/complete/`)
  t.equal(completed.statusCode, 200, completed.body)
  t.match(await balance(), { balance: 200, purchased_parts: 200 })

  // a conversation message pays its parts when queued: 3 parts for 307 GSM-7 characters
  const contactId = imported.data.results[0].contact_id
  const conversation = (await call('POST', '/api/messaging/conversations/', { contact_id: contactId, subject: 'Order' })).json().data
  const sent = await call('POST', '/api/messaging/messages/', { conversation_id: conversation.id, content: 'a'.repeat(307) })
  t.equal(sent.statusCode, 201, sent.body)
  t.match(await balance(), { balance: 197 })

  // spend the rest: 7 messages of 26 parts (182), then one of 15
  for (let i = 0; i < 7; i++) {
    const spend = await call('POST', '/api/messaging/messages/', { conversation_id: conversation.id, content: 'b'.repeat(153 * 26) })
    t.equal(spend.statusCode, 201, spend.body)
  }
  t.equal((await call('POST', '/api/messaging/messages/', { conversation_id: conversation.id, content: 'c'.repeat(153 * 15) })).statusCode, 201)
  t.match(await balance(), { balance: 0 })
  const beforeRefusal = await committedEventCount(services.database.db)
  const broke = await call('POST', '/api/messaging/messages/', { conversation_id: conversation.id, content: 'one more' })
  t.equal(broke.statusCode, 402)
  t.match(broke.json(), { error_code: 'INSUFFICIENT_BALANCE', details: { required_parts: 1, available_parts: 0 } })
  t.equal(await committedEventCount(services.database.db), beforeRefusal, 'the refused message appended nothing')
})
