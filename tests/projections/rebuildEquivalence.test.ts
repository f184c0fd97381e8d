import t from 'tap'
import fc from 'fast-check'
import { sql } from 'kysely'
import { projections } from '../../app.ts'
import { ManualClock } from '../../infra/clock.ts'
import { expectRebuildEqualsLive } from '../support/projectionTables.ts'
import { as, registerUser, startTestApp, type Session } from '../support/testApp.ts'

/**
 * Incremental projection equals a full replay: random command sequences go through the HTTP API
 * while the projections run live; then every projection is rebuilt from position 0 into a fresh
 * schema with a random batch size, and each table must hold exactly the same rows. A few totals
 * are also checked against a count made independently from the event log.
 */
type Operation =
  | { kind: 'contact'; phone: number; name: string; optIn: boolean }
  | { kind: 'bulk'; phones: number[] }
  | { kind: 'optIn' | 'optOut' | 'delete'; contact: number }
  | { kind: 'template'; approve: boolean; language: string }
  | { kind: 'campaign'; contacts: number[]; start: boolean; complete: boolean }
  | { kind: 'conversation'; contact: number }
  | { kind: 'message'; conversation: number; inbound: boolean; text: string }
  | { kind: 'status'; message: number; status: 'sent' | 'delivered' | 'read' | 'failed' }
  | { kind: 'advance'; minutes: number }

const index = fc.nat({ max: 20 })
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ kind: fc.constant('contact' as const), phone: fc.nat({ max: 9 }), name: fc.constantFrom('Asha', 'Baraka', 'Chausiku', 'Daudi'), optIn: fc.boolean() }),
  fc.record({ kind: fc.constant('bulk' as const), phones: fc.array(fc.nat({ max: 14 }), { minLength: 1, maxLength: 5 }) }),
  fc.record({ kind: fc.constantFrom('optIn' as const, 'optOut' as const, 'delete' as const), contact: index }),
  fc.record({ kind: fc.constant('template' as const), approve: fc.boolean(), language: fc.constantFrom('sw', 'en', 'fr') }),
  fc.record({ kind: fc.constant('campaign' as const), contacts: fc.array(index, { maxLength: 4 }), start: fc.boolean(), complete: fc.boolean() }),
  fc.record({ kind: fc.constant('conversation' as const), contact: index }),
  fc.record({ kind: fc.constant('message' as const), conversation: index, inbound: fc.boolean(), text: fc.string({ maxLength: 80 }) }),
  fc.record({ kind: fc.constant('status' as const), message: index, status: fc.constantFrom('sent' as const, 'delivered' as const, 'read' as const, 'failed' as const) }),
  fc.record({ kind: fc.constant('advance' as const), minutes: fc.integer({ min: 1, max: 60 * 24 * 45 }) }),
)

t.test('a projection rebuilt from position 0 equals the one built incrementally', async (t) => {
  const clock = new ManualClock('2026-01-28T21:00:00Z')
  const { app, services } = await startTestApp(t, { clock, label: 'rebuild' })
  const sessions: Session[] = [await registerUser(app, { timezone: 'Africa/Dar_es_Salaam' }), await registerUser(app, { timezone: 'Asia/Kolkata' })]
  let run = 0

  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.nat({ max: 1 }), operation), { minLength: 10, maxLength: 35 }), fc.integer({ min: 1, max: 40 }), async (steps, batchSize) => {
      run++
      const known = sessions.map(() => ({ contacts: [] as string[], conversations: [] as string[], messages: [] as string[], templates: [] as string[] }))
      const pick = <T>(list: T[], i: number): T | undefined => (list.length === 0 ? undefined : list[i % list.length])
      for (const [who, op] of steps) {
        const session = sessions[who]!
        const mine = known[who]!
        const post = async (url: string, payload?: object) => {
          const response = await app.inject(as(session, { method: 'POST', url, ...(payload ? { payload } : {}) }))
          t.ok(response.statusCode < 500, `${url} answered ${response.statusCode} ${response.statusCode >= 500 ? response.body : ''}`)
          return response.statusCode < 300 ? response.json() : null
        }
        switch (op.kind) {
          case 'contact': {
            const body = await post('/api/messaging/contacts/', { name: op.name, phone_e164: `+25571000${1000 + op.phone}`, is_opted_in: op.optIn })
            if (body && !mine.contacts.includes(body.data.id)) mine.contacts.push(body.data.id)
            break
          }
          case 'bulk': {
            const body = await post('/api/messaging/contacts/bulk-import/', op.phones.map((phone) => ({ name: `Bulk ${phone}`, phone_e164: `+25571000${1000 + phone}` })))
            for (const row of body?.data.results ?? []) if (row.contact_id && !mine.contacts.includes(row.contact_id)) mine.contacts.push(row.contact_id)
            break
          }
          case 'optIn':
          case 'optOut':
          case 'delete': {
            const id = pick(mine.contacts, op.contact)
            if (!id) break
            if (op.kind === 'delete') await app.inject(as(session, { method: 'DELETE', url: `/api/messaging/contacts/${id}/` }))
            else await post(`/api/messaging/contacts/${id}/${op.kind === 'optIn' ? 'opt-in' : 'opt-out'}/`, op.kind === 'optOut' ? { reason: 'Test' } : undefined)
            break
          }
          case 'template': {
            const body = await post('/api/messaging/templates/', { name: `Template ${run}`, channel: 'sms', category: 'marketing', language: op.language, content: 'Hi {{name}}' })
            if (body && op.approve) await post(`/api/messaging/templates/${body.data.id}/approve/`)
            break
          }
          case 'campaign': {
            const targets = op.contacts.flatMap((i) => pick(mine.contacts, i) ?? [])
            const body = await post('/api/messaging/campaigns/', { name: `Campaign ${run}`, message_text: 'Offer', target_contact_ids: targets })
            if (body && op.start && (await post(`/api/messaging/campaigns/${body.data.id}/start/`)) && op.complete) {
              await post(`/api/messaging/campaigns/${body.data.id}/complete/`)
            }
            break
          }
          case 'conversation': {
            const contact = pick(mine.contacts, op.contact)
            if (!contact) break
            const body = await post('/api/messaging/conversations/', { contact_id: contact, subject: 'Order' })
            if (body) mine.conversations.push(body.data.id)
            break
          }
          case 'message': {
            const conversation = pick(mine.conversations, op.conversation)
            if (!conversation) break
            const body = await post('/api/messaging/messages/', { conversation_id: conversation, content: op.text || 'Hello', direction: op.inbound ? 'inbound' : 'outbound' })
            if (body && !op.inbound) mine.messages.push(body.data.id)
            break
          }
          case 'status': {
            const message = pick(mine.messages, op.message)
            if (message) await post(`/api/messaging/messages/${message}/status/`, op.status === 'failed' ? { status: 'failed', reason: 'Unreachable' } : { status: op.status })
            break
          }
          case 'advance':
            clock.advance(op.minutes * 60_000)
            break
        }
      }

      const head = await services.store.headPosition()
      await expectRebuildEqualsLive(t, services, projections, { head, version: 1000 + run, batchSize })

      // independent counts from the event log itself
      const { rows: counts } = await sql<{ tenant_id: string; outbound: number; inbound: number }>`
        select tenant_id, count(*) filter (where event_type = 'outboundMessageQueued')::int as outbound,
               count(*) filter (where event_type = 'inboundMessageReceived')::int as inbound
          from es_events where tenant_id is not null group by tenant_id`.execute(services.database.db)
      const { rows: totals } = await sql<{ tenant_id: string; outbound: number; inbound: number }>`
        select tenant_id::text, outbound, inbound from proj_performance_overview.tenant_totals`.execute(services.database.db)
      for (const total of totals) {
        const fromLog = counts.find((c) => c.tenant_id === total.tenant_id)
        t.same({ outbound: total.outbound, inbound: total.inbound }, { outbound: fromLog?.outbound ?? 0, inbound: fromLog?.inbound ?? 0 }, 'message totals equal the log')
      }
      const { rows: activityTotals } = await sql<{ mismatched: number }>`
        select count(*)::int as mismatched from (
          select tenant_id, type, count(*)::int as n from proj_activity_feed.activities group by 1, 2
        ) a full join proj_activity_feed.activity_counts c using (tenant_id, type)
         where a.n is distinct from c.count`.execute(services.database.db)
      t.equal(activityTotals[0]!.mismatched, 0, 'activity counts equal the activity rows')
    }),
    { numRuns: 4 },
  )
})
