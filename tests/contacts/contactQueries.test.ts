import t from 'tap'
import { ManualClock } from '../../infra/clock.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { as, registerUser, startTestApp, type Session, type TestApp } from '../support/testApp.ts'

/** GET /contacts/ and /contacts/{id}/ over the contact directory: the spec's shape, filters, pages, refusals. */

const LIST_FIELDS = ['attributes', 'created_at', 'email', 'id', 'is_active', 'is_opted_in', 'last_contacted_at', 'name', 'opt_in_at', 'phone_e164', 'tags', 'updated_at']
const DETAIL_FIELDS = [...LIST_FIELDS, 'opt_out_at', 'opt_out_reason'].sort()
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000'

async function post(app: TestApp['app'], session: Session, url: string, payload?: object): Promise<{ id: string; position: number }> {
  const response = await app.inject(as(session, { method: 'POST', url, ...(payload ? { payload } : {}) }))
  if (response.statusCode >= 300) throw new Error(`${url}: ${response.statusCode} ${response.body}`)
  return { id: response.json().data.id, position: response.json().position }
}

t.test('the contact list: shape, order, filters and pages', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const testApp = await startTestApp(t, { label: 'contact_list', clock })
  const { app } = testApp
  const owner = await registerUser(app)
  const stranger = await registerUser(app)

  const jane = await post(app, owner, '/api/messaging/contacts/', {
    name: 'Jane Smith', phone_e164: '+255712000001', email: 'jane@example.com', tags: ['vip', 'Marketing'], attributes: { company: 'Acme Corp' },
  })
  await post(app, owner, `/api/messaging/contacts/${jane.id}/opt-in/`)
  clock.advance(60_000)
  const john = await post(app, owner, '/api/messaging/contacts/', { name: 'John Kamau', phone_e164: '0712 000 002', email: 'john@kamau.co.ke', tags: ['vip'], is_active: false })
  clock.advance(60_000)
  const asha = await post(app, owner, '/api/messaging/contacts/', { name: 'Asha 100%_sure', email: 'asha@example.com', tags: ['premium', 'vip', 'marketing'] })
  clock.advance(60_000)
  const gone = await post(app, owner, '/api/messaging/contacts/', { name: 'Gone', phone_e164: '+255712000004', tags: ['vip'] })
  const deletion = await app.inject(as(owner, { method: 'DELETE', url: `/api/messaging/contacts/${gone.id}/` }))
  const foreign = await post(app, stranger, '/api/messaging/contacts/', { name: 'Jane Elsewhere', phone_e164: '+255712000001', tags: ['vip'] })
  const position = Math.max(deletion.json().position, foreign.position)

  const list = async (query: string, session: Session = owner) => {
    const response = await app.inject(as(session, { method: 'GET', url: `/api/messaging/contacts/?min_position=${position}${query}` }))
    t.equal(response.statusCode, 200, `${query}: ${response.body.slice(0, 300)}`)
    return response
  }
  const names = async (query: string): Promise<string[]> => (await list(query)).json().data.results.map((contact: { name: string }) => contact.name)

  const all = await list('')
  t.equal(all.headers['x-read-model-caught-up'], 'true')
  const body = all.json()
  t.same(Object.keys(body).sort(), ['data', 'success'])
  t.same(Object.keys(body.data).sort(), ['count', 'next', 'previous', 'results'])
  t.equal(body.success, true)
  t.equal(body.data.count, 3, 'deleted contacts and other tenants are not listed')
  t.same(body.data.results.map((contact: { id: string }) => contact.id), [asha.id, john.id, jane.id], 'newest first')
  for (const contact of body.data.results) t.same(Object.keys(contact).sort(), LIST_FIELDS, 'the spec sample fields exactly')
  t.same(body.data.results[2], {
    id: jane.id,
    name: 'Jane Smith',
    phone_e164: '+255712000001',
    email: 'jane@example.com',
    is_active: true,
    is_opted_in: true,
    opt_in_at: '2026-03-10T09:00:00.000Z',
    last_contacted_at: null,
    attributes: { company: 'Acme Corp' },
    tags: ['vip', 'marketing'],
    created_at: '2026-03-10T09:00:00.000Z',
    updated_at: '2026-03-10T09:00:00.000Z',
  })
  t.equal(body.data.next, null)
  t.equal(body.data.previous, null)

  // search: name, email or phone, case-insensitive, partial; LIKE wildcards are plain characters
  t.same(await names('&search=jAn'), ['Jane Smith'])
  t.same(await names('&search=KAMAU'), ['John Kamau'], 'name and email')
  t.same(await names('&search=example.com'), ['Asha 100%_sure', 'Jane Smith'])
  t.same(await names('&search=%2B2557120000'), ['John Kamau', 'Jane Smith'], 'phone, as stored')
  t.same(await names('&search=0712%20000%20002'), ['John Kamau'], 'phone, in the local form')
  t.same(await names('&search=100%25_'), ['Asha 100%_sure'], '% and _ match themselves')
  t.same(await names('&search=%25'), ['Asha 100%_sure'])
  t.same(await names('&search=nobody'), [])
  t.same(await names('&search=Gone'), [], 'deleted contacts are not found')

  // flags
  t.same(await names('&is_active=false'), ['John Kamau'])
  t.same(await names('&is_active=true'), ['Asha 100%_sure', 'Jane Smith'])
  t.same(await names('&is_opted_in=true'), ['Jane Smith'])
  t.same(await names('&is_opted_in=false'), ['Asha 100%_sure', 'John Kamau'])

  // tags: repeated, every one required, case-insensitive
  t.same(await names('&tag=VIP'), ['Asha 100%_sure', 'John Kamau', 'Jane Smith'])
  t.same(await names('&tag=vip&tag=marketing'), ['Asha 100%_sure', 'Jane Smith'])
  t.same(await names('&tag=vip&tag=premium&tag=marketing'), ['Asha 100%_sure'])
  t.same(await names('&tag=vip&tag=unknown'), [])
  t.same(await names('&tag=vip&is_active=true&search=smith'), ['Jane Smith'], 'filters combine')

  // pages
  const first = (await list('&page_size=2')).json().data
  t.equal(first.count, 3)
  t.same(first.results.map((contact: { id: string }) => contact.id), [asha.id, john.id])
  t.equal(first.previous, null)
  const next = new URL(first.next)
  t.equal(next.pathname, '/api/messaging/contacts/')
  t.equal(next.searchParams.get('page'), '2')
  t.equal(next.searchParams.get('page_size'), '2')
  const second = (await list('&page_size=2&page=2')).json().data
  t.same(second.results.map((contact: { id: string }) => contact.id), [jane.id])
  t.equal(second.next, null)
  t.equal(new URL(second.previous).searchParams.get('page'), '1')
  const beyond = (await list('&page_size=2&page=5')).json().data
  t.same(beyond.results, [])
  t.equal(beyond.count, 3)

  // the other tenant sees its own contact only
  const theirs = (await list('', stranger)).json().data
  t.same(theirs.results.map((contact: { id: string }) => contact.id), [foreign.id])

  // bad input, no token
  const refusals: [string, Record<string, string[]>][] = [
    ['page_size=101', { page_size: ['Ensure this value is less than or equal to 100.'] }],
    ['page=0', { page: ['Ensure this value is greater than or equal to 1.'] }],
    ['is_active=maybe', { is_active: ['Must be boolean.'] }],
    ['is_opted_in=2', { is_opted_in: ['Must be boolean.'] }],
    ['tag=', { 'tag.0': ['This field may not be blank.'] }],
  ]
  for (const [query, errors] of refusals) {
    const response = await app.inject(as(owner, { method: 'GET', url: `/api/messaging/contacts/?${query}` }))
    t.equal(response.statusCode, 400, query)
    t.same(response.json(), { success: false, message: 'Validation failed', errors }, query)
  }
  const anonymous = await app.inject({ method: 'GET', url: '/api/messaging/contacts/' })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })
})

t.test('contact details', async (t) => {
  const testApp = await startTestApp(t, { label: 'contact_details' })
  const { app } = testApp
  const owner = await registerUser(app)
  const stranger = await registerUser(app)
  const contact = await post(app, owner, '/api/messaging/contacts/', { name: 'Jane', phone_e164: '+255712000011', attributes: { tier: 'gold', seats: 3, paying: true } })
  const optOut = await app.inject(as(owner, { method: 'POST', url: `/api/messaging/contacts/${contact.id}/opt-out/`, payload: { reason: 'Too many messages' } }))
  const gone = await post(app, owner, '/api/messaging/contacts/', { name: 'Gone', email: 'gone@example.com' })
  const deletion = await app.inject(as(owner, { method: 'DELETE', url: `/api/messaging/contacts/${gone.id}/` }))
  const position = Math.max(optOut.json().position, deletion.json().position)

  const response = await app.inject(as(owner, { method: 'GET', url: `/api/messaging/contacts/${contact.id.toUpperCase()}/?min_position=${position}` }))
  t.equal(response.statusCode, 200, response.body)
  t.equal(response.headers['x-read-model-caught-up'], 'true')
  const body = response.json()
  t.same(Object.keys(body).sort(), ['data', 'success'])
  t.same(Object.keys(body.data).sort(), DETAIL_FIELDS)
  t.match(body.data, {
    id: contact.id,
    name: 'Jane',
    phone_e164: '+255712000011',
    email: null,
    is_active: true,
    is_opted_in: false,
    opt_in_at: null,
    last_contacted_at: null,
    attributes: { tier: 'gold', seats: 3, paying: true },
    tags: [],
    opt_out_at: '2026-03-10T09:00:00.000Z',
    opt_out_reason: 'Too many messages',
  })

  const before = await committedEventCount(testApp.services.database.db)
  for (const [label, session, id] of [
    ['another tenant', stranger, contact.id],
    ['deleted', owner, gone.id],
    ['unknown', owner, UNKNOWN_ID],
  ] as const) {
    const notFound = await app.inject(as(session, { method: 'GET', url: `/api/messaging/contacts/${id}/?min_position=${position}` }))
    t.equal(notFound.statusCode, 404, label)
    t.same(notFound.json(), { success: false, message: 'Contact not found' }, label)
  }
  const notUuid = await app.inject(as(owner, { method: 'GET', url: '/api/messaging/contacts/123/' }))
  t.equal(notUuid.statusCode, 400)
  t.same(notUuid.json(), { success: false, message: 'Validation failed', errors: { id: ['Must be a valid uuid.'] } })
  const badPosition = await app.inject(as(owner, { method: 'GET', url: `/api/messaging/contacts/${contact.id}/?min_position=-1` }))
  t.equal(badPosition.statusCode, 400)
  const anonymous = await app.inject({ method: 'GET', url: `/api/messaging/contacts/${contact.id}/` })
  t.equal(anonymous.statusCode, 401)
  t.equal(await committedEventCount(testApp.services.database.db), before, 'queries append nothing')
})

t.test('last_contacted_at: in the list, the details and command answers once a message went out', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app } = await startTestApp(t, { label: 'contact_last_contacted', clock })
  const owner = await registerUser(app)
  const contact = await post(app, owner, '/api/messaging/contacts/', { name: 'Reachable', phone_e164: '+255712000021', is_opted_in: true })
  await post(app, owner, `/api/messaging/contacts/${contact.id}/opt-in/`)
  const conversation = await post(app, owner, '/api/messaging/conversations/', { contact_id: contact.id, subject: 'Hello' })
  clock.advance(5 * 60_000)
  const message = await post(app, owner, '/api/messaging/messages/', { conversation_id: conversation.id, content: 'Karibu!' })

  const details = await app.inject(as(owner, { method: 'GET', url: `/api/messaging/contacts/${contact.id}/?min_position=${message.position}` }))
  t.equal(details.json().data.last_contacted_at, '2026-03-10T09:05:00.000Z')
  const listed = await app.inject(as(owner, { method: 'GET', url: `/api/messaging/contacts/?min_position=${message.position}` }))
  t.equal(listed.json().data.results[0].last_contacted_at, '2026-03-10T09:05:00.000Z')

  const upsert = await app.inject(as(owner, { method: 'POST', url: '/api/messaging/contacts/', payload: { phone_e164: '+255712000021', tags: ['x'] } }))
  t.equal(upsert.statusCode, 200)
  t.equal(upsert.json().data.last_contacted_at, '2026-03-10T09:05:00.000Z', 'the upsert answer shows it')
  const put = await app.inject(as(owner, { method: 'PUT', url: `/api/messaging/contacts/${contact.id}/`, payload: { name: 'Reached', phone_e164: '+255712000021' } }))
  t.equal(put.statusCode, 200, put.body)
  t.equal(put.json().data.last_contacted_at, '2026-03-10T09:05:00.000Z', 'the PUT answer shows it')
})
