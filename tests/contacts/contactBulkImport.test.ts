import { sql } from 'kysely'
import t from 'tap'
import { buildApp, openServices } from '../../app.ts'
import { importContacts, type ImportOptions } from '../../commands/contacts/contactImport.ts'
import { loadConfig } from '../../infra/config.ts'
import { contactDirectory, contactDirectoryLookups } from '../../projections/contactDirectory.ts'
import { readModel } from '../../projections/engine/projection.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { as, registerUser, startTestApp, TEST_JWT_SECRET, type Session, type TestApp } from '../support/testApp.ts'

/** Bulk import from CSV (multipart upload or text/csv body), batched writes, the tenant's country. */

const IMPORT_URL = '/api/messaging/contacts/bulk-import/'

interface Part {
  name: string
  filename?: string
  contentType?: string
  content: string | Buffer
}

/** A multipart/form-data body, as a browser's FormData would send it. */
function formData(parts: Part[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = '----mifumo-test-boundary-7MA4YWxkTrZu0gW'
  const chunks: Buffer[] = []
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}`
    const type = part.filename ? `\r\nContent-Type: ${part.contentType ?? 'text/csv'}` : ''
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}${type}\r\n\r\n`))
    chunks.push(Buffer.isBuffer(part.content) ? part.content : Buffer.from(part.content))
    chunks.push(Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

const upload = (app: TestApp['app'], session: Session, csv: string | Buffer, extra: Part[] = []) =>
  app.inject(as(session, { method: 'POST', url: IMPORT_URL, ...formData([...extra, { name: 'file', filename: 'contacts.csv', content: csv }]) }))

const contact = async (app: TestApp['app'], session: Session, id: string, position: number) =>
  (await app.inject(as(session, { method: 'GET', url: `/api/messaging/contacts/${id}/?min_position=${position}` }))).json().data

t.test('a CSV upload: quoting, BOM, CRLF, typed attributes and a per-row report', async (t) => {
  const testApp = await startTestApp(t, { label: 'csv_import' })
  const { app } = testApp
  const session = await registerUser(app)
  const existing = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: 'Existing', email: 'existing@example.com', attributes: { kept: 'yes' } } }))
  const existingId = existing.json().data.id

  const csv = [
    '\uFEFFname,phone,email,tags,is_opted_in,Company,Seats,Notes',
    '"Smith, Jane",+255 712 100 001,jane@example.com,"vip;Marketing|new",true,Acme,3,"said ""hi""\r\non two lines"',
    'Bad phone,12,,,,,,',
    'Jane twin,0712100001,,,,,,',
    'Existing renamed,,EXISTING@example.com,,,Globex,,',
    'Nobody,,,,,,,',
    'Odd,+255712100005,,,maybe,,,',
    'Local,0712 100 006,local@example.com,,no,,1.5,',
    'Too many,+255712100007,,,,,,,surplus',
    '',
  ].join('\r\n')
  const response = await upload(app, session, csv)
  t.equal(response.statusCode, 200, response.body)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['data', 'message', 'position', 'success'])
  t.equal(body.message, 'Imported 2 new and updated 1 existing contacts; 5 rows rejected')
  const report = body.data
  t.same(Object.keys(report).sort(), ['created', 'import_id', 'rejected', 'results', 'total_rows', 'updated'])
  t.match(report, { total_rows: 8, created: 2, updated: 1, rejected: 5 })
  t.match(report.results[0], { row: 1, status: 'created', contact_id: String })
  t.same(report.results[1], { row: 2, status: 'rejected', errors: { phone_e164: ['Invalid E.164 format'] } })
  t.same(report.results[2], { row: 3, status: 'rejected', errors: { non_field_errors: ['Duplicate of row 1 in this import.'] } })
  t.same(report.results[3], { row: 4, status: 'updated', contact_id: existingId })
  t.same(report.results[4], { row: 5, status: 'rejected', errors: { phone_e164: ['Either phone_e164 or email is required.'] } })
  t.same(report.results[5], { row: 6, status: 'rejected', errors: { is_opted_in: ['Must be boolean.'] } })
  t.match(report.results[6], { row: 7, status: 'created', contact_id: String })
  t.same(report.results[7], { row: 8, status: 'rejected', errors: { non_field_errors: ['This row has 9 cells; the header names 8 columns.'] } })

  const jane = await contact(app, session, report.results[0].contact_id, body.position)
  t.match(jane, {
    name: 'Smith, Jane',
    phone_e164: '+255712100001',
    email: 'jane@example.com',
    tags: ['vip', 'marketing', 'new'],
    is_opted_in: true,
    attributes: { Company: 'Acme', Seats: 3, Notes: 'said "hi"\r\non two lines' },
  })
  t.match(await contact(app, session, report.results[6].contact_id, body.position), { phone_e164: '+255712100006', is_opted_in: false, attributes: { Seats: 1.5 } })
  t.match(await contact(app, session, existingId, body.position), { name: 'Existing renamed', attributes: { kept: 'yes', Company: 'Globex' } }, 'an upsert merges attributes')

  // the same file as a text/csv body, without BOM and with LF: everything valid exists now
  const again = await app.inject(as(session, { method: 'POST', url: IMPORT_URL, headers: { 'content-type': 'text/csv; charset=utf-8' }, payload: csv.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n') }))
  t.equal(again.statusCode, 200, again.body)
  t.match(again.json().data, { total_rows: 8, created: 0, updated: 3, rejected: 5 })
  t.same(again.json().data.results[0], { row: 1, status: 'updated', contact_id: report.results[0].contact_id })

  // one contacts_added activity for the hour's bulk-created contacts
  const feed = await app.inject(as(session, { method: 'GET', url: `/api/messaging/activity/recent/?type=contacts_added&min_position=${again.json().position}` }))
  t.equal(feed.statusCode, 200, feed.body)
  t.match(feed.json().data.activities, [{ type: 'contacts_added', title: 'Added 2 new contacts' }])
})

t.test('CSV files refused as a whole append nothing', async (t) => {
  const testApp = await startTestApp(t, { label: 'csv_import_refused' })
  const { app } = testApp
  const session = await registerUser(app)
  const seed = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { phone_e164: '+255712100009' } }))
  t.equal(seed.statusCode, 201)
  const before = await committedEventCount(testApp.services.database.db)

  const refusals: [string, () => ReturnType<typeof upload>, Record<string, string[]>][] = [
    ['no file field', () => app.inject(as(session, { method: 'POST', url: IMPORT_URL, ...formData([{ name: 'other', content: 'x' }]) })), { file: ['No file was submitted.'] }],
    ['a file under another name', () => app.inject(as(session, { method: 'POST', url: IMPORT_URL, ...formData([{ name: 'upload', filename: 'a.csv', content: 'phone\n1\n' }]) })), { file: ['No file was submitted.'] }],
    ['an empty file', () => upload(app, session, ''), { file: ['The submitted file is empty.'] }],
    ['a header only', () => upload(app, session, 'name,phone\r\n'), { contacts: ['Provide at least one contact.'] }],
    ['no phone or email column', () => upload(app, session, 'name,company\nA,B\n'), { file: ['The header row must name a phone_e164 (or phone) column or an email column.'] }],
    ['an unclosed quote', () => upload(app, session, 'phone,name\n+255712100010,"Jane\n'), { file: ['The file is not valid CSV: A quoted field is not closed (line 2).'] }],
    ['not UTF-8', () => upload(app, session, Buffer.from([0x70, 0x68, 0x6f, 0x6e, 0x65, 0x0a, 0xff, 0xfe, 0x31])), { file: ['The file must be UTF-8 text.'] }],
    ['10,001 rows', () => upload(app, session, ['phone', ...Array.from({ length: 10_001 }, (_, i) => `+2557${50_000_000 + i}`)].join('\n')), { contacts: ['Ensure this list has no more than 10000 items.'] }],
    ['a bad text/csv body', () => app.inject(as(session, { method: 'POST', url: IMPORT_URL, headers: { 'content-type': 'text/csv' }, payload: 'name\nA\n' })), { file: ['The header row must name a phone_e164 (or phone) column or an email column.'] }],
  ]
  for (const [label, send, errors] of refusals) {
    const response = await send()
    t.equal(response.statusCode, 400, label)
    t.same(response.json(), { success: false, message: 'Validation failed', errors }, label)
  }
  const anonymous = await app.inject({ method: 'POST', url: IMPORT_URL, ...formData([{ name: 'file', filename: 'a.csv', content: 'phone\n+255712100011\n' }]) })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })
  t.equal(await committedEventCount(testApp.services.database.db), before, 'nothing appended')
})

t.test('an Idempotency-Key on a CSV upload covers the file', async (t) => {
  const testApp = await startTestApp(t, { label: 'csv_import_idempotent' })
  const { app } = testApp
  const session = await registerUser(app)
  const send = (csv: string) =>
    app.inject(as(session, { method: 'POST', url: IMPORT_URL, ...formData([{ name: 'file', filename: 'a.csv', content: csv }]), headers: { ...formData([]).headers, 'idempotency-key': 'import-1' } }))
  const first = await send('phone\n+255712100021\n')
  t.equal(first.statusCode, 200, first.body)
  const before = await committedEventCount(testApp.services.database.db)
  const replay = await send('phone\n+255712100021\n')
  t.equal(replay.headers['idempotent-replayed'], 'true')
  t.same(replay.json(), first.json())
  const otherFile = await send('phone\n+255712100022\n')
  t.equal(otherFile.statusCode, 422, 'the same key with another file')
  t.equal(await committedEventCount(testApp.services.database.db), before, 'nothing appended')
})

t.test('batched writes decide every row as a lone upsert would', async (t) => {
  const testApp = await startTestApp(t, { label: 'import_batches' })
  const { app, services } = testApp
  const directory = contactDirectoryLookups(readModel(services.database.db, contactDirectory))
  const modes: [string, ImportOptions][] = [
    ['hints, batches of 3', { batchSize: 3, directory }],
    ['no hints, batches of 3', { batchSize: 3 }],
    ['hints, one batch', { directory }],
    ['no hints, one batch, one at a time', { batchConcurrency: 1 }],
  ]
  for (const [mode, options] of modes) {
    const session = await registerUser(app)
    const create = async (payload: object): Promise<{ id: string; position: number }> => {
      const response = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload }))
      return { id: response.json().data.id, position: response.json().position }
    }
    const kept = await create({ name: 'Kept', phone_e164: '+255712200001', email: 'kept@example.com', tags: ['old'] })
    const other = await create({ name: 'Other', phone_e164: '+255712200002', email: 'other@example.com' })
    const third = await create({ name: 'Third', phone_e164: '+255712200006', email: 'third@example.com' })
    await create({ name: 'Fourth', phone_e164: '+255712200007', email: 'fourth@example.com' })
    const gone = await create({ name: 'Gone', phone_e164: '+255712200003' })
    const deletion = await app.inject(as(session, { method: 'DELETE', url: `/api/messaging/contacts/${gone.id}/` }))
    // the contact directory knows them all: the hints are right, except none for the released key
    await app.inject(as(session, { method: 'GET', url: `/api/messaging/contacts/?min_position=${deletion.json().position}` }))

    const rows = [
      { name: 'Kept renamed', phone_e164: '+255712200001' }, // 1 updated
      { name: 'Reborn', phone_e164: '+255712200003' }, // 2 created, claiming a released key
      { name: 'Kept by email', email: 'kept@example.com', tags: ['new'] }, // 3 updated: the same contact as row 1
      { name: 'Fresh', phone_e164: '+255712200004' }, // 4 created
      { name: 'Other new email', phone_e164: '+255712200002', email: 'other.new@example.com' }, // 5 updated, moving its email
      { name: 'Takes old email', email: 'other@example.com' }, // 6 created: row 5 freed this email
      { name: 'Mixed', phone_e164: '+255712200006', email: 'fourth@example.com' }, // 7 CONTACT_CONFLICT
      ...Array.from({ length: 7 }, (_, i) => ({ name: `New ${i}`, email: `new${i}@example.com` })), // 8-14 created
      { name: 'Twin', phone_e164: '0712 200 004' }, // 15 duplicate of row 4
    ]
    const context = {
      tenantId: session.tenantId,
      actor: { userId: session.userId, name: 'David Ochieng' },
      correlationId: mode,
      causationId: null,
      ip: null,
      userAgent: null,
      now: testApp.clock.now(),
    }
    const report = await importContacts(services.store, context, rows, 'TZ', 8, options)
    t.match(report, { total_rows: 15, created: 10, updated: 3, rejected: 2 }, mode)
    const ids = report.results.map((result) => ('contact_id' in result ? result.contact_id : null))
    t.same(report.results.map((result) => result.status), [
      'updated', 'created', 'updated', 'created', 'updated', 'created', 'rejected', ...Array(7).fill('created'), 'rejected',
    ], mode)
    t.same([ids[0], ids[2], ids[4]], [kept.id, kept.id, other.id], mode)
    t.not(ids[1], gone.id, `${mode}: a released key makes a new contact`)
    t.not(ids[5], other.id, mode)
    t.same(report.results[6], {
      row: 7,
      status: 'rejected',
      errors: { non_field_errors: ['The phone number and the email belong to two different contacts'] },
    }, mode)
    t.same(report.results[14], { row: 15, status: 'rejected', errors: { non_field_errors: ['Duplicate of row 4 in this import.'] } }, mode)
    t.equal(new Set(ids.filter(Boolean)).size, 12, `${mode}: 10 new contacts and 2 updated ones`)

    t.match(await contact(app, session, kept.id, report.position), { name: 'Kept by email', phone_e164: '+255712200001', tags: ['new'] }, `${mode}: rows applied in file order`)
    t.match(await contact(app, session, other.id, report.position), { name: 'Other new email', email: 'other.new@example.com' }, mode)
    t.match(await contact(app, session, ids[5]!, report.position), { name: 'Takes old email', email: 'other@example.com' }, mode)
    t.match(await contact(app, session, third.id, report.position), { name: 'Third' }, mode)
    const holder = async (kind: string, key: string) =>
      (await services.store.readStream(`${kind}-${session.tenantId}:${key}`)).events.at(-1)
    t.match(await holder('contactEmail', 'other@example.com'), { type: 'contactKeyClaimed', data: { contactId: ids[5] } }, `${mode}: key streams follow`)
    t.match(await holder('contactEmail', 'other.new@example.com'), { type: 'contactKeyClaimed', data: { contactId: other.id } }, mode)
    t.match(await holder('contactPhone', '+255712200003'), { type: 'contactKeyClaimed', data: { contactId: ids[1] } }, mode)
  }
})

t.test('10,000 rows in one CSV upload', async (t) => {
  const testApp = await startTestApp(t, { label: 'import_10k' })
  const { app } = testApp
  const session = await registerUser(app)
  const lines = ['name,phone_e164,email,tags,Region']
  for (let i = 0; i < 10_000; i++) lines.push(`Contact ${i},+2557${60_000_000 + i},c${i}@example.com,"bulk;wave-${i % 3}",${i % 2 === 0 ? 'Dar' : 'Arusha'}`)
  const started = Date.now()
  const response = await upload(app, session, lines.join('\r\n'))
  const elapsed = Date.now() - started
  t.equal(response.statusCode, 200, response.body.slice(0, 300))
  const report = response.json().data
  t.match(report, { total_rows: 10_000, created: 10_000, updated: 0, rejected: 0 })
  t.equal(new Set(report.results.map((result: { contact_id: string }) => result.contact_id)).size, 10_000)
  t.comment(`10,000 new contacts imported in ${elapsed} ms`)

  const listed = await app.inject(as(session, { method: 'GET', url: `/api/messaging/contacts/?min_position=${response.json().position}&tag=wave-1&page_size=1` }))
  t.equal(listed.json().data.count, 3333)
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from es_events where event_type = 'contactCreated'`.execute(testApp.services.database.db)
  t.equal(rows[0]!.n, 10_000)

  // the same file again: all updates of existing contacts, nothing to write
  const before = await committedEventCount(testApp.services.database.db)
  const again = await upload(app, session, lines.join('\r\n'))
  t.match(again.json().data, { total_rows: 10_000, created: 0, updated: 10_000, rejected: 0 })
  t.equal(await committedEventCount(testApp.services.database.db), before, 'unchanged contacts append nothing')
})

t.test("local numbers are read in the tenant's country, not the service default", async (t) => {
  // the tenant is created while the service default is KE; a second instance defaults to TZ
  const testApp = await startTestApp(t, { label: 'import_country', env: { DEFAULT_COUNTRY: 'KE' } })
  const session = await registerUser(testApp.app)
  const services = await openServices(loadConfig({ DATABASE_URL: testApp.database.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', DEFAULT_COUNTRY: 'TZ' }))
  const app = await buildApp(services)
  t.teardown(async () => {
    await app.close()
    await services.close()
  })
  const created = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { phone_e164: '0712 345 678' } }))
  t.equal(created.json().data.phone_e164, '+254712345678', 'upsert')
  const imported = await upload(app, session, 'phone\n0712 345 679\n')
  const importedId = imported.json().data.results[0].contact_id
  const put = await app.inject(as(session, { method: 'PUT', url: `/api/messaging/contacts/${importedId}/`, payload: { phone_e164: '0712 345 670' } }))
  t.equal(put.json().data.phone_e164, '+254712345670', 'PUT')
  const details = await app.inject(as(session, { method: 'GET', url: `/api/messaging/contacts/?min_position=${put.json().position}&search=0712345670` }))
  t.equal(details.json().data.results[0].id, importedId)
})
