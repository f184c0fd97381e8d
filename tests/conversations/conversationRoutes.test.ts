import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { systemActor, type CommandContext } from '../../commands/commandContext.ts'
import { loadAggregate, toNewEvents } from '../../commands/commandExecution.ts'
import { userStream } from '../../commands/users/registration.ts'
import { userDecider } from '../../commands/users/userDecider.ts'
import { ManualClock } from '../../infra/clock.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { appendsNothing } from '../support/eventLog.ts'
import { createContact } from '../support/messagingFixtures.ts'
import { as, registerUser, startTestApp, type Session } from '../support/testApp.ts'

/**
 * Conversations over HTTP: the inbox (list, detail, a conversation's messages), PUT (close,
 * reopen, assign), the closed-conversation rules for messages, and message detail. Reads after a
 * command pass `?min_position=<its position>`.
 */
const START = '2026-03-10T09:00:00.000Z'
const minute = (n: number): string => new Date(Date.parse(START) + n * 60_000).toISOString()

const ROW_FIELDS = [
  'assigned_to', 'assigned_to_name', 'channel', 'contact_id', 'contact_name', 'contact_phone', 'created_at', 'id', 'last_message_at',
  'last_message_preview', 'message_count', 'status', 'subject', 'unread_count', 'updated_at',
]
const COMMAND_FIELDS = ['assigned_to', 'assigned_to_name', 'channel', 'contact_id', 'contact_name', 'contact_phone', 'created_at', 'id', 'status', 'subject', 'updated_at']
const MESSAGE_FIELDS = [
  'campaign_id', 'channel', 'contact_id', 'content', 'conversation_id', 'created_at', 'delivered_at', 'direction', 'failed_at', 'failure_reason', 'id', 'read_at', 'sent_at', 'status', 'updated_at',
]

/** Fixture: makes a registered user a member (agent) of another tenant, through the user's own stream. */
async function joinTenant(store: EventStore, userId: string, tenantId: string, now: Date): Promise<void> {
  const loaded = await loadAggregate(store, userStream(userId), userDecider)
  const events = userDecider.decide({ type: 'joinTenant', tenantId, tenantName: 'Mifumo Traders', role: 'agent', now }, loaded.state)
  const context: CommandContext = { tenantId, actor: systemActor, correlationId: 'fixture', causationId: null, ip: null, userAgent: null, now }
  await store.append([{ streamName: userStream(userId), expectedVersion: loaded.version, events: toNewEvents(events, context) }])
}

function client(app: FastifyInstance, session: Session) {
  const get = (url: string) => app.inject(as(session, { method: 'GET', url }))
  return {
    get,
    post: (url: string, payload?: object) => app.inject(as(session, { method: 'POST', url, ...(payload ? { payload } : {}) })),
    put: (id: string, payload?: object) => app.inject(as(session, { method: 'PUT', url: `/api/messaging/conversations/${id}/`, ...(payload ? { payload } : {}) })),
    list: (query: string) => get(`/api/messaging/conversations/?${query}`),
    detail: (id: string, position?: number) => get(`/api/messaging/conversations/${id}/${position === undefined ? '' : `?min_position=${position}`}`),
    send: (conversationId: string, content: string, direction: 'outbound' | 'inbound' = 'outbound') =>
      app.inject(as(session, { method: 'POST', url: '/api/messaging/messages/', payload: { conversation_id: conversationId, content, direction } })),
  }
}

t.test('conversations over HTTP', async (t) => {
  const clock = new ManualClock(START)
  const { app, services } = await startTestApp(t, { clock, label: 'conversations_http' })
  const { store, database } = services
  const session = await registerUser(app, { first_name: 'David', last_name: 'Ochieng' })
  const colleague = await registerUser(app, { first_name: 'Amina', last_name: 'Juma' })
  const stranger = await registerUser(app, { first_name: 'Sarah', last_name: 'Mwangi', tenant_name: 'Other Ltd' })
  await joinTenant(store, colleague.userId, session.tenantId, clock.now())
  const api = client(app, session)
  const theirs = client(app, stranger)

  const contact = (name: string, phone: string): Promise<string> => createContact(app, session, { name, phone_e164: phone })
  const john = await contact('John Kamau', '+255712345678')
  const grace = await contact('Grace Njeri', '+255713000111')

  const start = async (contactId: string, subject: string, channel = 'sms') => {
    const response = await api.post('/api/messaging/conversations/', { contact_id: contactId, subject, channel })
    if (response.statusCode !== 201) throw new Error(`conversation: ${response.statusCode} ${response.body}`)
    return response.json() as { data: Record<string, unknown> & { id: string }; position: number }
  }
  const send = async (conversationId: string, content: string, direction: 'outbound' | 'inbound' = 'outbound') => {
    const response = await api.send(conversationId, content, direction)
    if (response.statusCode !== 201) throw new Error(`message: ${response.statusCode} ${response.body}`)
    return response.json() as { data: Record<string, unknown> & { id: string }; position: number }
  }

  clock.set(minute(1))
  const coffee = await start(john, 'Kenya Coffee Exports')
  clock.set(minute(2))
  const invoices = await start(grace, 'Invoices')
  clock.set(minute(3))
  const orders = await start(john, 'Orders', 'whatsapp')
  clock.set(minute(4))
  const shipped = await send(coffee.data.id, 'Your order has shipped')
  clock.set(minute(5))
  await send(coffee.data.id, 'Thank you!', 'inbound')
  clock.set(minute(6))
  const longReply = `When   will it\narrive? ${'Please tell me the exact day. '.repeat(5)}`
  await send(coffee.data.id, longReply, 'inbound')
  clock.set(minute(7))
  const invoiceSent = await send(invoices.data.id, 'Invoice INV-001 attached')

  t.test('the list: shape, newest activity first, message counts', async (t) => {
    const response = await api.list(`min_position=${invoiceSent.position}`)
    t.equal(response.statusCode, 200, response.body)
    t.equal(response.headers['x-read-model-caught-up'], 'true')
    const body = response.json()
    t.same(Object.keys(body).sort(), ['data', 'success'])
    t.same(Object.keys(body.data).sort(), ['count', 'next', 'previous', 'results'])
    t.same([body.data.count, body.data.next, body.data.previous], [3, null, null])
    const [first, second, third] = body.data.results
    t.same(Object.keys(first).sort(), ROW_FIELDS)
    t.same([first.id, second.id, third.id], [invoices.data.id, coffee.data.id, orders.data.id])
    t.same(second, {
      id: coffee.data.id,
      contact_id: john,
      contact_name: 'John Kamau',
      contact_phone: '+255712345678',
      subject: 'Kenya Coffee Exports',
      channel: 'sms',
      status: 'open',
      assigned_to: null,
      assigned_to_name: null,
      message_count: 3,
      unread_count: 2,
      last_message_at: minute(6),
      last_message_preview: `When will it arrive? ${'Please tell me the exact day. '.repeat(5)}`.trim().slice(0, 97).trimEnd() + '...',
      created_at: minute(1),
      updated_at: minute(1),
    })
    t.equal(second.last_message_preview.length <= 100, true, 'a preview is at most 100 characters')
    t.match(first, { message_count: 1, unread_count: 0, last_message_at: minute(7), last_message_preview: 'Invoice INV-001 attached' })
    t.match(third, { channel: 'whatsapp', message_count: 0, unread_count: 0, last_message_at: null, last_message_preview: null })

    const shared = Object.fromEntries(COMMAND_FIELDS.map((field) => [field, third[field]]))
    t.same(Object.keys(orders.data).sort(), COMMAND_FIELDS)
    t.same(shared, orders.data, 'the command answer is the row without its message facts')

    const detail = await api.detail(coffee.data.id.toUpperCase())
    t.equal(detail.statusCode, 200, detail.body)
    t.same(detail.json(), { success: true, data: second })
  })

  t.test('an outbound message answers the waiting replies', async (t) => {
    clock.set(minute(8))
    const answer = await send(coffee.data.id, 'It arrives on Friday')
    const row = (await api.detail(coffee.data.id, answer.position)).json().data
    t.match(row, { message_count: 4, unread_count: 0, last_message_at: minute(8), last_message_preview: 'It arrives on Friday' })
  })

  t.test('filters, search and pagination', async (t) => {
    const ids = async (query: string): Promise<string[]> => {
      const response = await api.list(query)
      t.equal(response.statusCode, 200, `${query}: ${response.body}`)
      return response.json().data.results.map((row: { id: string }) => row.id)
    }
    t.same(await ids(`contact_id=${john}`), [coffee.data.id, orders.data.id])
    t.same(await ids(`contact_id=${grace.toUpperCase()}`), [invoices.data.id])
    t.same(await ids('search=COFFEE'), [coffee.data.id], 'the subject, any case')
    t.same(await ids('search=njeri'), [invoices.data.id], "the contact's name")
    t.same(await ids('search=kamau&status=open'), [coffee.data.id, orders.data.id])
    t.same(await ids('status=closed'), [])
    t.same(await ids(`assigned_to=${colleague.userId}`), [])
    t.same(await ids('search=%25'), [], 'a % is a literal')

    const first = (await api.list('page_size=2')).json().data
    t.same([first.count, first.results.length, first.previous], [3, 2, null])
    t.match(first.next, /\/api\/messaging\/conversations\/\?page_size=2&page=2$/)
    const second = (await api.list('page_size=2&page=2')).json().data
    t.same(second.results.map((row: { id: string }) => row.id), [orders.data.id])
    t.equal(second.next, null)
    t.match(second.previous, /page=1/)

    await appendsNothing(t, database.db, async () => {
      const bad = await api.list('status=archived&contact_id=nope&assigned_to=1&page=0')
      t.equal(bad.statusCode, 400)
      t.same(bad.json(), {
        success: false,
        message: 'Validation failed',
        errors: {
          status: ['Must be one of: open, closed.'],
          contact_id: ['Must be a valid uuid.'],
          assigned_to: ['Must be a valid uuid.'],
          page: ['Ensure this value is greater than or equal to 1.'],
        },
      })
    })
  })

  t.test('close and reopen; active conversations follow', async (t) => {
    const active = async (position: number): Promise<number> =>
      (await api.get(`/api/messaging/performance/overview/?min_position=${position}`)).json().data.metrics.active_conversations
    t.equal(await active(invoiceSent.position), 3)

    clock.set(minute(10))
    const closed = await api.put(orders.data.id, { status: 'closed' })
    t.equal(closed.statusCode, 200, closed.body)
    const body = closed.json()
    t.same(Object.keys(body).sort(), ['data', 'message', 'position', 'success'])
    t.equal(body.message, 'Conversation updated successfully')
    t.equal(closed.headers['x-event-position'], String(body.position))
    t.same(Object.keys(body.data).sort(), COMMAND_FIELDS)
    t.match(body.data, { id: orders.data.id, status: 'closed', updated_at: minute(10), created_at: minute(3) })
    t.match((await api.detail(orders.data.id, body.position)).json().data, { status: 'closed', updated_at: minute(10) })
    t.same((await api.list(`status=closed&min_position=${body.position}`)).json().data.results.map((row: { id: string }) => row.id), [orders.data.id])
    t.equal(await active(body.position), 2)
    t.match((await store.readStream(`conversation-${orders.data.id}`)).events.at(-1), {
      type: 'conversationClosed',
      data: { subject: 'Orders', closedBy: { userId: session.userId, name: 'David Ochieng' }, at: minute(10) },
    })

    await appendsNothing(t, database.db, async () => {
      const again = await api.put(orders.data.id, { status: 'closed' })
      t.equal(again.statusCode, 200, 'the status it has: no change')
      t.equal(again.json().position, body.position)
    })

    clock.set(minute(11))
    const reopened = await api.put(orders.data.id, { status: 'open' })
    t.equal(reopened.statusCode, 200, reopened.body)
    t.match(reopened.json().data, { status: 'open', updated_at: minute(11) })
    t.equal(await active(reopened.json().position), 3)
  })

  t.test('assign to a member, reassign, unassign', async (t) => {
    clock.set(minute(12))
    const assigned = await api.put(coffee.data.id, { assigned_to: colleague.userId.toUpperCase() })
    t.equal(assigned.statusCode, 200, assigned.body)
    t.match(assigned.json().data, { assigned_to: colleague.userId, assigned_to_name: 'Amina Juma', updated_at: minute(12) })
    t.match((await store.readStream(`conversation-${coffee.data.id}`)).events.at(-1), {
      type: 'conversationAssigned',
      data: { assignee: { userId: colleague.userId, name: 'Amina Juma' }, previousAssignee: null, assignedBy: { name: 'David Ochieng' } },
    })
    const listed = (await api.list(`assigned_to=${colleague.userId}&min_position=${assigned.json().position}`)).json().data.results
    t.same(listed.map((row: { id: string }) => row.id), [coffee.data.id])
    t.match(listed[0], { assigned_to: colleague.userId, assigned_to_name: 'Amina Juma' })

    await appendsNothing(t, database.db, async () => {
      const same = await api.put(coffee.data.id, { assigned_to: colleague.userId, status: 'open' })
      t.equal(same.statusCode, 200)
      t.equal(same.json().position, assigned.json().position, 'nothing to change')
    })

    const self = await api.put(coffee.data.id, { assigned_to: session.userId })
    t.match(self.json().data, { assigned_to: session.userId, assigned_to_name: 'David Ochieng' })
    const nobody = await api.put(coffee.data.id, { assigned_to: null })
    t.equal(nobody.statusCode, 200, nobody.body)
    t.match(nobody.json().data, { assigned_to: null, assigned_to_name: null })
    t.match((await api.detail(coffee.data.id, nobody.json().position)).json().data, { assigned_to: null, assigned_to_name: null })
    t.same(
      (await store.readStream(`conversation-${coffee.data.id}`)).events.slice(-2).map((event) => event.type),
      ['conversationAssigned', 'conversationUnassigned'],
    )
  })

  t.test('bad updates are 400s and append nothing', async (t) => {
    await appendsNothing(t, database.db, async () => {
      const outsider = await api.put(coffee.data.id, { assigned_to: stranger.userId })
      t.equal(outsider.statusCode, 400)
      t.same(outsider.json(), { success: false, message: 'Validation failed', errors: { assigned_to: ['User is not a member of this tenant.'] } })
      const unknown = await api.put(coffee.data.id, { assigned_to: '00000000-0000-4000-8000-000000000000' })
      t.same(unknown.json().errors, { assigned_to: ['User is not a member of this tenant.'] })
      const wrong = await api.put(coffee.data.id, { status: 'archived', assigned_to: 'someone' })
      t.equal(wrong.statusCode, 400)
      t.same(wrong.json().errors, { status: ['Must be one of: open, closed.'], assigned_to: ['Does not match any allowed form.'] })
      const empty = await api.put(coffee.data.id, {})
      t.same(empty.json(), { success: false, message: 'Validation failed', errors: { non_field_errors: ['Give at least one of: status, assigned_to.'] } })
      const notAnId = await api.put('not-a-uuid', { status: 'closed' })
      t.same(notAnId.json().errors, { id: ['Must be a valid uuid.'] })
    })
  })

  t.test('a closed conversation: no outbound messages, no new assignee; a reply reopens it', async (t) => {
    clock.set(minute(20))
    const closed = await api.put(invoices.data.id, { status: 'closed', assigned_to: colleague.userId })
    t.equal(closed.statusCode, 200, closed.body)
    t.match(closed.json().data, { status: 'closed', assigned_to: colleague.userId })
    const versionBefore = (await store.readStream(`conversation-${invoices.data.id}`)).version

    await appendsNothing(t, database.db, async () => {
      const outbound = await api.send(invoices.data.id, 'One more thing')
      t.equal(outbound.statusCode, 400, outbound.body)
      t.same(outbound.json(), {
        success: false,
        message: 'Conversation is closed',
        error_code: 'INVALID_STATUS',
        details: { current_status: 'closed', allowed_statuses: ['open'] },
      })
      const reassign = await api.put(invoices.data.id, { assigned_to: session.userId })
      t.equal(reassign.statusCode, 400)
      t.same(reassign.json(), {
        success: false,
        message: 'The assignee of a closed conversation cannot change',
        error_code: 'INVALID_STATUS',
        details: { current_status: 'closed', allowed_statuses: ['open'] },
      })
    })

    clock.set(minute(21))
    const reply = await send(invoices.data.id, 'I have not received the invoice', 'inbound')
    t.match(reply.data, { direction: 'inbound', status: 'received', conversation_id: invoices.data.id })
    const { events, version } = await store.readStream(`conversation-${invoices.data.id}`)
    t.equal(version, versionBefore + 1, 'one event on the conversation')
    t.match(events.at(-1), {
      type: 'conversationReopened',
      data: { trigger: 'inbound_message', messageId: reply.data.id, subject: 'Invoices', at: minute(21) },
    })
    const [messageEvent] = (await store.readStream(`message-${reply.data.id}`)).events
    t.equal(Math.floor(events.at(-1)!.position / 2 ** 20), Math.floor(messageEvent!.position / 2 ** 20), 'the reply and the reopening are one append')

    const row = (await api.detail(invoices.data.id, reply.position)).json().data
    t.match(row, { status: 'open', unread_count: 1, message_count: 2, assigned_to: colleague.userId, updated_at: minute(21), last_message_at: minute(21) })
    const outbound = await api.send(invoices.data.id, 'Sending it again now')
    t.equal(outbound.statusCode, 201, 'open again: messages flow')

    clock.set(minute(22))
    const reopenAndAssign = await api.put(orders.data.id, { status: 'closed' })
    t.equal(reopenAndAssign.statusCode, 200)
    const both = await api.put(orders.data.id, { status: 'open', assigned_to: session.userId })
    t.equal(both.statusCode, 200, both.body)
    t.match(both.json().data, { status: 'open', assigned_to: session.userId })
    t.same((await store.readStream(`conversation-${orders.data.id}`)).events.slice(-2).map((event) => event.type), ['conversationReopened', 'conversationAssigned'])
  })

  t.test("a conversation's messages: oldest first, paginated, rows of GET /messages/", async (t) => {
    const url = `/api/messaging/conversations/${coffee.data.id}/messages/`
    const all = await api.get(`${url}?min_position=${invoiceSent.position}`)
    t.equal(all.statusCode, 200, all.body)
    const body = all.json().data
    t.same(Object.keys(body).sort(), ['count', 'next', 'previous', 'results'])
    t.equal(body.count, 4)
    t.same(body.results.map((row: { content: string }) => row.content), ['Your order has shipped', 'Thank you!', longReply, 'It arrives on Friday'])
    t.same(Object.keys(body.results[0]).sort(), MESSAGE_FIELDS)
    t.same(body.results[0], shipped.data, 'the row is the message as the command answered it')
    const fromList = (await api.get(`/api/messaging/messages/?conversation_id=${coffee.data.id}`)).json().data
    t.same(fromList.results, body.results, 'the same rows as GET /messages/?conversation_id')

    const page = (await api.get(`${url}?page_size=3&page=2`)).json().data
    t.same(page.results.map((row: { content: string }) => row.content), ['It arrives on Friday'])
    t.equal(page.next, null)
    t.match(page.previous, /page=1/)
    t.match((await api.get(`${url}?page_size=3`)).json().data.next, /page=2/)
    t.same((await api.get(`/api/messaging/conversations/${orders.data.id}/messages/`)).json().data, { results: [], count: 0, next: null, previous: null })

    const unknown = await api.get('/api/messaging/conversations/00000000-0000-4000-8000-000000000000/messages/')
    t.equal(unknown.statusCode, 404)
    t.same(unknown.json(), { success: false, message: 'Conversation not found' })
  })

  t.test('message detail', async (t) => {
    const detail = await api.get(`/api/messaging/messages/${shipped.data.id}/?min_position=${shipped.position}`)
    t.equal(detail.statusCode, 200, detail.body)
    t.same(detail.json(), { success: true, data: shipped.data })
    const unknown = await api.get('/api/messaging/messages/00000000-0000-4000-8000-000000000000/')
    t.equal(unknown.statusCode, 404)
    t.same(unknown.json(), { success: false, message: 'Message not found' })
    const bad = await api.get('/api/messaging/messages/nope/')
    t.equal(bad.statusCode, 400)
    t.same(bad.json().errors, { id: ['Must be a valid uuid.'] })
  })

  t.test("a renamed contact's name shows in its conversations", async (t) => {
    const renamed = await api.post('/api/messaging/contacts/', { name: 'John K. Kamau', phone_e164: '+255712345678' })
    t.equal(renamed.statusCode, 200, renamed.body)
    const position = renamed.json().position
    const rows = (await api.list(`contact_id=${john}&min_position=${position}`)).json().data.results
    t.same(rows.map((row: { contact_name: string }) => row.contact_name), ['John K. Kamau', 'John K. Kamau'])
    t.same((await api.list('search=k. kamau')).json().data.count, 2)
  })

  t.test("another tenant's conversations and messages are not found", async (t) => {
    await appendsNothing(t, database.db, async () => {
      const list = (await theirs.list(`min_position=${invoiceSent.position}`)).json().data
      t.same([list.results, list.count], [[], 0])
      for (const response of [
        await theirs.detail(coffee.data.id),
        await theirs.put(coffee.data.id, { status: 'closed' }),
        await theirs.put(coffee.data.id, { assigned_to: stranger.userId }),
        await theirs.get(`/api/messaging/conversations/${coffee.data.id}/messages/`),
      ]) {
        t.equal(response.statusCode, 404)
        t.same(response.json(), { success: false, message: 'Conversation not found' })
      }
      const message = await theirs.get(`/api/messaging/messages/${shipped.data.id}/`)
      t.equal(message.statusCode, 404)
      t.same(message.json(), { success: false, message: 'Message not found' })
    })
    t.match((await api.detail(coffee.data.id)).json().data, { status: 'open' }, 'unchanged')
  })

  t.test('without a token', async (t) => {
    await appendsNothing(t, database.db, async () => {
      for (const [method, url, payload] of [
        ['GET', '/api/messaging/conversations/'],
        ['GET', `/api/messaging/conversations/${coffee.data.id}/`],
        ['PUT', `/api/messaging/conversations/${coffee.data.id}/`, { status: 'closed' }],
        ['GET', `/api/messaging/conversations/${coffee.data.id}/messages/`],
        ['GET', `/api/messaging/messages/${shipped.data.id}/`],
      ] as const) {
        const response = await app.inject({ method, url, ...(payload ? { payload } : {}) })
        t.equal(response.statusCode, 401, `${method} ${url}`)
        t.same(response.json(), { detail: 'Authentication credentials were not provided.' })
      }
    })
  })
})
