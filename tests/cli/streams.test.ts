import type { ChildProcess } from 'node:child_process'
import t from 'tap'
import { buildApp, openServices } from '../../app.ts'
import { userDescriber } from '../../commands/users/userDirectory.ts'
import { streamsCommand } from '../../infra/ops/streamsCommand.ts'
import { ManualClock } from '../../infra/clock.ts'
import { loadConfig } from '../../infra/config.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { eventually } from '../support/eventually.ts'
import { runScript } from '../support/scriptProcess.ts'
import { as, registerUser, TEST_JWT_SECRET, type Session } from '../support/testApp.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

/**
 * `mifumo streams`: the event log from the command line, as its own process against the server's
 * database. Piped, it prints JSON lines (parsed here); `--table` prints what a terminal shows.
 * The finer variations run the same command in this process (each process costs seconds).
 */

const mifumo = (args: string[], env: Record<string, string>, onLine?: (line: string, child: ChildProcess) => void) => runScript('cli.ts', args, env, onLine)
const jsonLines = (stdout: string) =>
  stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line))

/** Waits until readers of the global log see the event at `position`. */
async function readable(store: EventStore, position: number): Promise<void> {
  await eventually(
    () => store.readAll({ after: position - 1, limit: 1 }),
    (slice) => slice.scannedTo >= position,
    30_000,
  )
}

t.test('mifumo streams', async (t) => {
  const database = await createTestDatabase('cli_streams')
  const env = { DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET }
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const config = loadConfig({ ...env, LOG_LEVEL: 'silent', DELIVERY_WORKERS: 'false', RATE_LIMITS_ENABLED: 'false' })
  const services = await openServices(config, { clock })
  const app = await buildApp(services)
  t.teardown(async () => {
    await app.close()
    await services.close()
    await database.drop()
  })

  /** the command as cli.ts runs it, in this process, its output captured */
  const streams = async (args: string[], options: { isTTY?: boolean } = {}) => {
    let stdout = ''
    let stderr = ''
    const code = await streamsCommand(args, {
      stdout: (text) => void (stdout += text),
      stderr: (text) => void (stderr += text),
      env,
      isTTY: options.isTTY ?? false,
      openServices,
      users: userDescriber,
    })
    return { code, stdout, stderr }
  }

  const alice = await registerUser(app, { first_name: 'Alice', last_name: 'Wanjiru' })
  const bob = await registerUser(app, { first_name: 'Bob', last_name: 'Otieno' })
  let last = 0
  const post = async (session: Session, url: string, payload?: object, headers: Record<string, string> = {}) => {
    const response = await app.inject(as(session, { method: 'POST', url, ...(payload ? { payload } : {}), headers }))
    if (response.statusCode >= 300) throw new Error(`${url}: ${response.statusCode} ${response.body}`)
    last = Math.max(last, response.json().position)
    return response.json()
  }
  const first = (await post(alice, '/api/messaging/contacts/', { name: 'Amina Juma', phone_e164: '+255712000001' }, { 'x-correlation-id': 'corr-cli' })).data.id as string
  await post(alice, `/api/messaging/contacts/${first}/opt-in/`)
  await post(alice, `/api/messaging/contacts/${first}/opt-out/`, { reason: 'asked' })
  clock.set('2026-03-10T12:00:00Z')
  const second = (await post(bob, '/api/messaging/contacts/', { name: 'Baraka', phone_e164: '+255712000002' })).data.id as string
  await readable(services.store, last)

  t.test('categories, streams and one stream', async (t) => {
    const [categories, read, unknown] = await Promise.all([
      mifumo(['streams', 'categories'], env),
      mifumo(['streams', 'read', `contact-${first}`], env),
      mifumo(['streams', 'read', 'contact-00000000-0000-4000-8000-000000000000'], env),
    ])
    t.equal(categories.code, 0, categories.stderr)
    const rows = jsonLines(categories.stdout)
    t.same(rows.find((row) => row.category === 'contact'), { category: 'contact', streams: 2, events: 4 })
    t.ok(rows.some((row) => row.category === 'user'))
    const table = await streams(['categories'], { isTTY: true })
    t.equal(table.code, 0, table.stderr)
    t.match(table.stdout, /^CATEGORY\s+STREAMS\s+EVENTS\n/, 'a table in a terminal')
    t.match(table.stdout, /\ncontact\s+2\s+4\n/)

    const list = await streams(['list', '--category', 'contact'])
    t.equal(list.code, 0, list.stderr)
    const found = jsonLines(list.stdout)
    t.same(found.map((row) => row.stream).sort(), [`contact-${first}`, `contact-${second}`].sort())
    t.match(found.find((row) => row.stream === `contact-${first}`), { version: 2, event_count: 3, last_position: Number })
    const listTable = await streams(['list', '--category', 'contact', '--limit', '1', '--table'])
    t.match(listTable.stdout, /^STREAM\s+VERSION\s+EVENTS\s+LAST POSITION\s+LAST RECORDED AT\n/)
    t.equal(listTable.stdout.trim().split('\n').length, 2, 'one stream on the page')
    t.match(listTable.stderr, '2 streams in contact; next page: --page 2')

    t.equal(read.code, 0, read.stderr)
    const events = jsonLines(read.stdout)
    t.same(events.map((event) => [event.version, event.type]), [[0, 'contactCreated'], [1, 'contactOptedIn'], [2, 'contactOptedOut']])
    t.match(events[0], { stream: `contact-${first}`, user_id: alice.userId, user_name: 'Alice Wanjiru', tenant_id: alice.tenantId, correlation_id: 'corr-cli' })
    const backward = await streams(['read', `contact-${first}`, '--backward', '--limit', '2', '--table'])
    t.match(backward.stdout, new RegExp(`contact-${first}\\s+2\\s+contactOptedOut[^\\n]*\\n[^\\n]*contact-${first}\\s+1\\s+contactOptedIn`))
    t.match(backward.stderr, 'version 2 (3 events), read backward; next: --from 0')
    t.same(jsonLines((await streams(['read', `contact-${first}`, '--backward', '--limit', '2'])).stdout).map((event) => event.version), [2, 1])
    t.same(jsonLines((await streams(['read', `contact-${first}`, '--from', '1', '--limit', '1'])).stdout).map((event) => event.version), [1])

    t.equal(unknown.code, 1)
    t.equal(unknown.stdout, '')
    t.match(unknown.stderr, 'no stream named contact-00000000-0000-4000-8000-000000000000')
  })

  t.test('the global log with filters, and one event', async (t) => {
    const [created, contactsOfAlice] = await Promise.all([
      mifumo(['streams', 'log', '--type', 'contactCreated'], env),
      mifumo(['streams', 'log', '--category', 'contact', '--tenant', alice.tenantId], env),
    ])
    for (const result of [created, contactsOfAlice]) t.equal(result.code, 0, result.stderr)
    const createdEvents = jsonLines(created.stdout)
    t.same(createdEvents.map((event) => event.stream), [`contact-${first}`, `contact-${second}`])
    t.same(jsonLines(contactsOfAlice.stdout).map((event) => event.type), ['contactCreated', 'contactOptedIn', 'contactOptedOut'])
    const morning = await streams(['log', '--category', 'contact', '--from', '2026-03-10T08:00:00Z', '--to', '2026-03-10T10:00:00Z'])
    t.same(jsonLines(morning.stdout).map((event) => event.stream), [`contact-${first}`, `contact-${first}`, `contact-${first}`], 'occurred_at within the range')
    const noon = await streams(['log', '--type', 'contactOptedIn', '--type', 'contactCreated', '--category', 'contact', '--from', '2026-03-10T11:00:00Z'])
    t.same(jsonLines(noon.stdout).map((event) => [event.stream, event.type]), [[`contact-${second}`, 'contactCreated']])
    const recorded = await streams(['log', '--category', 'contact', '--time-field', 'recorded_at', '--to', '2026-03-10T10:00:00Z'])
    t.same(jsonLines(recorded.stdout), [], 'recorded_at is the real time of the append, after the test clock')

    const page = await streams(['log', '--category', 'contact', '--limit', '2'])
    const firstPage = jsonLines(page.stdout)
    t.equal(firstPage.length, 2)
    const rest = await streams(['log', '--category', 'contact', '--after', String(firstPage[1].position)])
    t.same(jsonLines(rest.stdout).map((event) => event.id), [...jsonLines(contactsOfAlice.stdout).slice(2), createdEvents[1]].map((event) => event.id))

    const tableLog = await streams(['log', '--category', 'contact'], { isTTY: true })
    t.match(tableLog.stdout, /^POSITION\s+OCCURRED AT\s+STREAM\s+VER\s+TYPE\s+TENANT\s+WHO\n/)
    t.match(tableLog.stdout, new RegExp(`2026-03-10T09:00:00Z\\s+contact-${first}\\s+0\\s+contactCreated\\s+${alice.tenantId}\\s+Alice Wanjiru`))
    t.match(tableLog.stderr, 'end of the readable log')

    const id = createdEvents[0].id as string
    const shown = await mifumo(['streams', 'show', id], env)
    t.equal(shown.code, 0, shown.stderr)
    const [view] = jsonLines(shown.stdout)
    t.same(view, createdEvents[0], 'the same view as the log')
    t.match(view, { id, type: 'contactCreated', version: 0, user_name: 'Alice Wanjiru', ip: '127.0.0.1', correlation_id: 'corr-cli', causation_id: null, schema_version: 1, occurred_at: '2026-03-10T09:00:00.000Z' })
    const detail = await streams(['show', id], { isTTY: true })
    t.equal(detail.code, 0, detail.stderr)
    for (const line of [`Event        ${id}`, 'Type         contactCreated', `Stream       contact-${first} (category contact)`, 'Who          Alice Wanjiru <', 'From         127.0.0.1', 'Correlation  corr-cli', 'Causation    -', 'Data', '"name": "Amina Juma"']) {
      t.match(detail.stdout, line)
    }
  })

  t.test('refusals', async (t) => {
    const [spawnedUsage, spawnedMissing] = await Promise.all([
      mifumo(['streams', 'log', '--limit', '0'], env),
      mifumo(['streams', 'show', '00000000-0000-4000-8000-000000000000'], env),
    ])
    t.equal(spawnedUsage.code, 2)
    t.match(spawnedUsage.stderr, '--limit must be a whole number from 1 to 1000')
    t.match(spawnedUsage.stderr, 'Usage: mifumo streams')
    t.equal(spawnedMissing.code, 1)
    t.match(spawnedMissing.stderr, 'no event with id 00000000-0000-4000-8000-000000000000')
    const cases = [
      [['log', '--tenant', 'acme'], 2, '--tenant must be a tenant id'],
      [['log', '--from', 'yesterday'], 2, '--from must be an ISO time'],
      [['log', '--from', '2026-03-10T10:00:00Z', '--to', '2026-03-10T09:00:00Z'], 2, '--to must be later than --from'],
      [['log', '--follow', '--to', '2026-03-10T09:00:00Z'], 2, 'does not go with --to'],
      [['log', '--time-field', 'whenever'], 2, '--time-field must be occurred_at or recorded_at'],
      [['log', '--json', '--table'], 2, '--json and --table go separately'],
      [['show', 'not-an-id'], 2, 'streams show takes one event id'],
      [['read'], 2, 'streams read takes one stream name'],
      [['frobnicate'], 2, 'unknown streams command "frobnicate"'],
      [['list', '--category', 'contact-x'], 2, '--category must be a stream category'],
      [['categories', '--bogus'], 2, "Unknown option '--bogus'"],
    ] as const
    for (const [args, code, message] of cases) {
      const result = await streams([...args])
      t.equal(result.code, code, message)
      t.equal(result.stdout, '', message)
      t.match(result.stderr, message)
    }
    const help = await streams(['--help'])
    t.equal(help.code, 0)
    t.match(help.stdout, 'Usage: mifumo streams <command>')
  })

  t.test('--follow prints events appended after it started, until SIGTERM', async (t) => {
    const existing = jsonLines((await mifumo(['streams', 'log', '--category', 'contact'], env)).stdout)
    const lastSeen = existing.at(-1)!
    let third: string | undefined
    const lines: string[] = []
    let appending: Promise<void> | undefined
    const result = await mifumo(['streams', 'log', '--follow', '--category', 'contact', '--after', String(existing.at(-2)!.position)], env, (line, child) => {
      lines.push(line)
      const event = JSON.parse(line)
      if (event.id === lastSeen.id && !appending) {
        // it is reading: append a new contact, and stop the follower once it has printed it
        appending = (async () => {
          third = (await post(alice, '/api/messaging/contacts/', { name: 'Chausiku', phone_e164: '+255712000003' })).data.id as string
        })()
      } else if (third && event.stream === `contact-${third}`) {
        child.kill('SIGTERM')
      }
    })
    await appending
    t.equal(result.code, 0, `exits 0 on SIGTERM: ${result.stderr}`)
    const printed = lines.map((line) => JSON.parse(line))
    t.same(printed.map((event) => [event.stream, event.type]), [[lastSeen.stream, lastSeen.type], [`contact-${third}`, 'contactCreated']])
    t.match(printed[1], { user_name: 'Alice Wanjiru', tenant_id: alice.tenantId })
  })
})
