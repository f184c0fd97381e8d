import t from 'tap'
import fc from 'fast-check'
import { sql } from 'kysely'
import { ManualClock } from '../../infra/clock.ts'
import { conversationInbox } from '../../projections/conversationInbox.ts'
import { performanceOverview } from '../../projections/performanceOverview.ts'
import { templateCatalog } from '../../projections/templateCatalog.ts'
import { expectRebuildEqualsLive } from '../support/projectionTables.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'

/**
 * The template catalog and the conversation inbox rebuilt from position 0 (random batch sizes)
 * equal the incrementally built tables, after random sequences of the commands they fold:
 * template edits, reviews and deletions; conversations closed, reopened, assigned; messages both
 * ways; contacts renamed. The inbox's counts are also checked against a fold of the log written
 * here, and the open conversations against the performance overview's counter.
 */
type Operation =
  | { kind: 'template' }
  | { kind: 'editTemplate' | 'submitTemplate' | 'approveTemplate' | 'rejectTemplate' | 'deleteTemplate'; template: number }
  | { kind: 'conversation'; contact: number }
  | { kind: 'message'; conversation: number; inbound: boolean; text: string }
  | { kind: 'status'; conversation: number; status: 'open' | 'closed' }
  | { kind: 'assign'; conversation: number; who: 'me' | 'nobody' }
  | { kind: 'rename'; contact: number; name: string }
  | { kind: 'advance'; seconds: number }

const index = fc.nat({ max: 9 })
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ kind: fc.constant('template' as const) }),
  fc.record({ kind: fc.constantFrom('editTemplate' as const, 'submitTemplate' as const, 'approveTemplate' as const, 'rejectTemplate' as const, 'deleteTemplate' as const), template: index }),
  fc.record({ kind: fc.constant('conversation' as const), contact: fc.nat({ max: 2 }) }),
  fc.record({ kind: fc.constant('message' as const), conversation: index, inbound: fc.boolean(), text: fc.string({ minLength: 1, maxLength: 150 }) }),
  fc.record({ kind: fc.constant('status' as const), conversation: index, status: fc.constantFrom('open' as const, 'closed' as const) }),
  fc.record({ kind: fc.constant('assign' as const), conversation: index, who: fc.constantFrom('me' as const, 'nobody' as const) }),
  fc.record({ kind: fc.constant('rename' as const), contact: fc.nat({ max: 2 }), name: fc.constantFrom('Asha', 'Baraka', 'Chausiku') }),
  fc.record({ kind: fc.constant('advance' as const), seconds: fc.integer({ min: 0, max: 3600 }) }),
)

t.test('template catalog and conversation inbox: rebuilt equals incremental', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { clock, label: 'inbox_rebuild' })
  const { db } = services.database
  const session = await registerUser(app)
  const post = async (url: string, payload?: object, method: 'POST' | 'PUT' | 'DELETE' = 'POST') => {
    const response = await app.inject(as(session, { method, url, ...(payload ? { payload } : {}) }))
    t.ok(response.statusCode < 500, `${method} ${url} answered ${response.statusCode} ${response.statusCode >= 500 ? response.body : ''}`)
    return response.statusCode < 300 ? response.json() : null
  }
  const phones = ['+255710000001', '+255710000002', '+255710000003']
  const contacts: string[] = []
  for (const [i, phone] of phones.entries()) contacts.push((await post('/api/messaging/contacts/', { name: `Contact ${i}`, phone_e164: phone })).data.id)
  const mine = [conversationInbox, templateCatalog, performanceOverview]
  let run = 0

  await fc.assert(
    fc.asyncProperty(fc.array(operation, { minLength: 15, maxLength: 40 }), fc.integer({ min: 1, max: 25 }), async (steps, batchSize) => {
      run++
      const templates: string[] = []
      const conversations: string[] = []
      const pick = (list: string[], i: number): string | undefined => (list.length === 0 ? undefined : list[i % list.length])
      for (const op of steps) {
        switch (op.kind) {
          case 'template': {
            const body = await post('/api/messaging/templates/', { name: `T${run}`, channel: 'sms', category: 'marketing', language: 'en', content: 'Hi {{name}}' })
            if (body) templates.push(body.data.id)
            break
          }
          case 'editTemplate': {
            const id = pick(templates, op.template)
            if (id) await post(`/api/messaging/templates/${id}/`, { content: `Hello {{name}} ${clock.now().getTime()}` }, 'PUT')
            break
          }
          case 'deleteTemplate': {
            const id = pick(templates, op.template)
            if (id) await post(`/api/messaging/templates/${id}/`, undefined, 'DELETE')
            break
          }
          case 'submitTemplate':
          case 'approveTemplate':
          case 'rejectTemplate': {
            const id = pick(templates, op.template)
            const action = op.kind.replace('Template', '')
            if (id) await post(`/api/messaging/templates/${id}/${action}/`, action === 'reject' ? { reason: 'No' } : undefined)
            break
          }
          case 'conversation': {
            const body = await post('/api/messaging/conversations/', { contact_id: contacts[op.contact], subject: `Subject ${run}` })
            if (body) conversations.push(body.data.id)
            break
          }
          case 'message': {
            const id = pick(conversations, op.conversation)
            if (id) await post('/api/messaging/messages/', { conversation_id: id, content: op.text.trim() || 'x', direction: op.inbound ? 'inbound' : 'outbound' })
            break
          }
          case 'status': {
            const id = pick(conversations, op.conversation)
            if (id) await post(`/api/messaging/conversations/${id}/`, { status: op.status }, 'PUT')
            break
          }
          case 'assign': {
            const id = pick(conversations, op.conversation)
            if (id) await post(`/api/messaging/conversations/${id}/`, { assigned_to: op.who === 'me' ? session.userId : null }, 'PUT')
            break
          }
          case 'rename':
            await post('/api/messaging/contacts/', { name: `${op.name} ${run}`, phone_e164: phones[op.contact] })
            break
          case 'advance':
            clock.advance(op.seconds * 1000)
            break
        }
      }

      // the last event appended (every command above has returned): headPosition() would lag
      // behind it while any transaction on the server is open
      const { rows: last } = await sql<{ head: string }>`select coalesce(max(position), 0)::text as head from es_events`.execute(db)
      const head = Number(last[0]!.head)
      await expectRebuildEqualsLive(t, services, mine, { head, version: 2000 + run, batchSize })

      // an independent fold of the log: messages per conversation and replies since the last outbound
      const { rows: messages } = await sql<{ conversation_id: string; event_type: string }>`
        select data->>'conversationId' as conversation_id, event_type from es_events
         where event_type in ('outboundMessageQueued', 'inboundMessageReceived') and data->>'conversationId' is not null
         order by position`.execute(db)
      const expected = new Map<string, { message_count: number; unread_count: number }>()
      for (const message of messages) {
        const entry = expected.get(message.conversation_id) ?? { message_count: 0, unread_count: 0 }
        entry.message_count++
        entry.unread_count = message.event_type === 'inboundMessageReceived' ? entry.unread_count + 1 : 0
        expected.set(message.conversation_id, entry)
      }
      const { rows: inbox } = await sql<{ conversation_id: string; message_count: number; unread_count: number; status: string }>`
        select conversation_id::text, message_count, unread_count, status from proj_conversation_inbox.conversations`.execute(db)
      for (const row of inbox) {
        t.same({ message_count: row.message_count, unread_count: row.unread_count }, expected.get(row.conversation_id) ?? { message_count: 0, unread_count: 0 }, 'counts equal the log')
      }
      const { rows: totals } = await sql<{ conversations_open: number }>`
        select conversations_open from proj_performance_overview.tenant_totals where tenant_id = ${session.tenantId}`.execute(db)
      t.equal(totals[0]?.conversations_open ?? 0, inbox.filter((row) => row.status === 'open').length, 'active conversations equal the open rows')
    }),
    { numRuns: 4 },
  )
})
