import type { EventStore } from '../eventStore/eventStore.ts'
import {
  CommandFailed,
  openForOps,
  parseOptions,
  runOpsCommand,
  textTable,
  UsageError,
  wholeNumber,
  type OpenServices,
  type OpsIo,
} from './opsCommandLine.ts'
import {
  eventView,
  eventViews,
  inspection,
  InspectionUnsupported,
  readLogPage,
  readStreamPage,
  rememberingUsers,
  streamView,
  type DescribeUsers,
  type EventView,
  type LogQuery,
} from './streamInspection.ts'

/**
 * `mifumo streams`: the event log for operators, read-only. The same views as the admin HTTP
 * endpoints (streamInspection.ts). In a terminal the answers are aligned tables; piped, or with
 * --json, one JSON object per line (events in the endpoints' snake_case shape).
 */

export const STREAMS_USAGE = `Usage: mifumo streams <command> [options]

Commands:
  categories                 Every stream category, with its streams and events.
  list [--category <c>]      Streams (in name order) with their version and last position.
       [--limit <n>] [--page <n>]    n per page (default 50, at most 1000), which page (default 1)
  read <stream>              One stream's events, oldest first.
       [--backward]                  newest first
       [--from <version>]            start at this version (inclusive)
       [--limit <n>]                 at most n events (default 100, at most 1000)
  log                        The global log in position order.
       [--after <position>]          events after this position (default 0; with --follow: now)
       [--type <type>]...            only these event types (repeatable)
       [--category <c>]...           only these stream categories (repeatable)
       [--tenant <tenant-id>]        only this tenant's events
       [--from <iso time>]           from this time (inclusive) ...
       [--to <iso time>]             ... to this one (exclusive)
       [--time-field occurred_at|recorded_at]   the time --from/--to bound (default occurred_at)
       [--limit <n>]                 at most n events (default 100, at most 1000)
       [--follow]                    then keep printing new events as they are appended, until
                                     SIGINT (Ctrl-C) or SIGTERM
  show <event-id>            One event with all its metadata: who, from where, when, correlation
                             and causation ids, schema version, stream, version, position.

Options of every command:
  --json                     JSON lines, even in a terminal (the default when piped)
  --table                    a table, even when piped
`

export interface StreamsCommandDeps extends OpsIo {
  openServices: OpenServices
  /** who the users behind events are (the composition root hands in the user directory) */
  users?: (store: EventStore) => DescribeUsers
}

const CATEGORY = /^[^-\s]{1,100}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i

const common = {
  json: { type: 'boolean', default: false },
  table: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const

function isoTime(raw: string | undefined, option: string): Date | undefined {
  if (raw === undefined) return undefined
  const time = new Date(raw)
  if (!ISO_TIME.test(raw.trim()) || Number.isNaN(time.getTime())) throw new UsageError(`${option} must be an ISO time with a zone, like 2026-03-10T09:00:00Z`)
  return time
}

function category(raw: string, option = '--category'): string {
  if (!CATEGORY.test(raw)) throw new UsageError(`${option} must be a stream category (no "-" or spaces), got "${raw}"`)
  return raw
}

/** How answers are printed: tables in a terminal, JSON lines otherwise. */
class Printer {
  readonly tables: boolean
  readonly #io: OpsIo

  constructor(io: OpsIo, flags: { json: boolean; table: boolean }) {
    if (flags.json && flags.table) throw new UsageError('--json and --table go separately')
    this.#io = io
    this.tables = flags.table || (!flags.json && (io.isTTY ?? process.stdout.isTTY === true))
  }

  jsonLines(rows: readonly unknown[]): void {
    if (rows.length > 0) this.#io.stdout(rows.map((row) => `${JSON.stringify(row)}\n`).join(''))
  }

  text(text: string): void {
    this.#io.stdout(text)
  }

  /** a hint for the person at the terminal (standard error: it never mixes with the answer) */
  note(text: string): void {
    if (this.tables) this.#io.stderr(`${text}\n`)
  }
}

const shortTime = (iso: string): string => iso.replace(/\.\d{3}Z$/, 'Z')

function who(event: EventView): string {
  if (!event.user_id) return 'system'
  return event.user_name ?? event.user_email ?? event.user_id
}

const EVENT_HEADER = ['POSITION', 'OCCURRED AT', 'STREAM', 'VER', 'TYPE', 'TENANT', 'WHO']
/** stable widths, so the batches of --follow line up */
const EVENT_WIDTHS = [15, 20, 44, 3, 24, 36]

function eventRows(events: readonly EventView[]): string[][] {
  return events.map((event) => [String(event.position), shortTime(event.occurred_at), event.stream, String(event.version), event.type, event.tenant_id ?? '-', who(event)])
}

/** Events as a table (or JSON lines); `following`: fixed column widths and the header only once, so batches line up. */
function printEvents(printer: Printer, events: readonly EventView[], following?: { header: boolean }): void {
  if (!printer.tables) return printer.jsonLines(events)
  if (events.length === 0) return
  const table = textTable(EVENT_HEADER, eventRows(events), following ? EVENT_WIDTHS : [])
  printer.text(!following || following.header ? table : table.slice(table.indexOf('\n') + 1))
}

/** One event, every field on its own line; the data as indented JSON. */
export function eventDetail(event: EventView): string {
  const user = event.user_id
    ? [event.user_name, event.user_email ? `<${event.user_email}>` : null, `(${event.user_id})`].filter(Boolean).join(' ')
    : 'system (no user)'
  const from = [event.ip, event.user_agent].filter(Boolean).join(', ') || '-'
  const rows: [string, string][] = [
    ['Event', event.id],
    ['Type', event.type],
    ['Stream', `${event.stream} (category ${event.category})`],
    ['Version', String(event.version)],
    ['Position', String(event.position)],
    ['Occurred at', event.occurred_at],
    ['Recorded at', event.recorded_at],
    ['Tenant', event.tenant_id ?? '-'],
    ['Who', user],
    ['From', from],
    ['Correlation', event.correlation_id ?? '-'],
    ['Causation', event.causation_id ?? '-'],
    ['Schema', `version ${event.schema_version}`],
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  const data = JSON.stringify(event.data, null, 2).split('\n').map((line) => `  ${line}`).join('\n')
  return `${rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n')}\nData\n${data}\n`
}

/** Runs `mifumo streams …`; answers the exit code. */
export async function streamsCommand(args: string[], deps: StreamsCommandDeps): Promise<number> {
  return runOpsCommand('streams', STREAMS_USAGE, deps, () => streams(args, deps))
}

async function streams(args: string[], deps: StreamsCommandDeps): Promise<void> {
  const [action, ...rest] = args
  if (action === undefined || action === 'help' || action === '--help' || action === '-h') {
    deps.stdout(STREAMS_USAGE)
    return
  }
  switch (action) {
    case 'categories': {
      const { values } = parseOptions(rest, common)
      if (values.help) return deps.stdout(STREAMS_USAGE)
      const printer = new Printer(deps, values)
      await withStore(deps, async (store) => {
        const categories = await inspection(store, 'listCategories')()
        if (!printer.tables) return printer.jsonLines(categories)
        if (categories.length === 0) return printer.text('The event log is empty.\n')
        printer.text(textTable(['CATEGORY', 'STREAMS', 'EVENTS'], categories.map((row) => [row.category, String(row.streams), String(row.events)])))
      })
      return
    }
    case 'list': {
      const { values } = parseOptions(rest, { ...common, category: { type: 'string' }, limit: { type: 'string' }, page: { type: 'string' } })
      if (values.help) return deps.stdout(STREAMS_USAGE)
      const printer = new Printer(deps, values)
      const wanted = values.category === undefined ? undefined : category(values.category)
      const limit = wholeNumber(values.limit, '--limit', 1, 1000) ?? 50
      const page = wholeNumber(values.page, '--page', 1, 1_000_000) ?? 1
      await withStore(deps, async (store) => {
        const { streams: found, total } = await inspection(store, 'listStreams')({ category: wanted, offset: (page - 1) * limit, limit })
        const rows = found.map(streamView)
        if (!printer.tables) return printer.jsonLines(rows)
        if (rows.length === 0) printer.text(total === 0 ? 'No streams.\n' : `No streams on page ${page}.\n`)
        else {
          printer.text(
            textTable(
              ['STREAM', 'VERSION', 'EVENTS', 'LAST POSITION', 'LAST RECORDED AT'],
              rows.map((row) => [row.stream, String(row.version), String(row.event_count), String(row.last_position), shortTime(row.last_recorded_at)]),
            ),
          )
        }
        const shown = (page - 1) * limit + rows.length
        printer.note(`${total} stream${total === 1 ? '' : 's'}${wanted ? ` in ${wanted}` : ''}${shown < total ? `; next page: --page ${page + 1}` : ''}`)
      })
      return
    }
    case 'read': {
      const { values, positionals } = parseOptions(rest, { ...common, backward: { type: 'boolean', default: false }, from: { type: 'string' }, limit: { type: 'string' } }, true)
      if (values.help) return deps.stdout(STREAMS_USAGE)
      if (positionals.length !== 1) throw new UsageError('streams read takes one stream name, like contact-<uuid>')
      const stream = positionals[0]!
      if (stream.length > 300 || stream.trim() === '') throw new UsageError('the stream name must be 1 to 300 characters')
      const printer = new Printer(deps, values)
      const direction = values.backward ? 'backward' : 'forward'
      const fromVersion = wholeNumber(values.from, '--from', 0, Number.MAX_SAFE_INTEGER)
      const limit = wholeNumber(values.limit, '--limit', 1, 1000) ?? 100
      await withStore(deps, async (store, users) => {
        const page = await readStreamPage(store, stream, { direction, fromVersion, limit })
        if (page.version < 0) throw new CommandFailed(`no stream named ${stream}`)
        printEvents(printer, await eventViews(page.events, users))
        const more = [
          page.nextFromVersion === null ? null : `next: --from ${page.nextFromVersion}`,
          page.previousFromVersion === null ? null : `previous: --from ${page.previousFromVersion}`,
        ].filter(Boolean)
        printer.note(`${stream}: version ${page.version} (${page.version + 1} event${page.version === 0 ? '' : 's'}), read ${direction}${more.length > 0 ? `; ${more.join(', ')}` : ''}`)
      })
      return
    }
    case 'log': {
      const { values } = parseOptions(rest, {
        ...common,
        after: { type: 'string' },
        type: { type: 'string', multiple: true },
        category: { type: 'string', multiple: true },
        tenant: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        'time-field': { type: 'string' },
        limit: { type: 'string' },
        follow: { type: 'boolean', default: false },
      })
      if (values.help) return deps.stdout(STREAMS_USAGE)
      const printer = new Printer(deps, values)
      const timeField = values['time-field']
      if (timeField !== undefined && timeField !== 'occurred_at' && timeField !== 'recorded_at') throw new UsageError('--time-field must be occurred_at or recorded_at')
      if (values.tenant !== undefined && !UUID.test(values.tenant)) throw new UsageError('--tenant must be a tenant id (a UUID)')
      const types = values.type ?? []
      if (types.some((type) => type.trim() === '' || type.length > 200)) throw new UsageError('--type must be an event type name')
      const query: LogQuery = {
        after: wholeNumber(values.after, '--after', 0, Number.MAX_SAFE_INTEGER) ?? 0,
        limit: wholeNumber(values.limit, '--limit', 1, 1000) ?? 100,
        eventTypes: types,
        categories: (values.category ?? []).map((raw) => category(raw)),
        tenantId: values.tenant?.toLowerCase(),
        from: isoTime(values.from, '--from'),
        to: isoTime(values.to, '--to'),
        timeField: timeField as LogQuery['timeField'],
      }
      if (query.from && query.to && query.from >= query.to) throw new UsageError('--to must be later than --from')
      if (values.follow && query.to) throw new UsageError('--follow keeps reading new events: it does not go with --to')
      if (values.follow) {
        await withStore(deps, (store, users) => follow(store, users, printer, query, values.after !== undefined))
        return
      }
      await withStore(deps, async (store, users) => {
        const slice = await readLogPage(store, query)
        printEvents(printer, await eventViews(slice.events, users))
        if (slice.events.length === 0) printer.note('No events.')
        printer.note(slice.events.length === query.limit ? `more: --after ${slice.scannedTo}` : `end of the readable log; new events: --after ${slice.scannedTo} (or --follow)`)
      })
      return
    }
    case 'show': {
      const { values, positionals } = parseOptions(rest, common, true)
      if (values.help) return deps.stdout(STREAMS_USAGE)
      if (positionals.length !== 1 || !UUID.test(positionals[0]!)) throw new UsageError('streams show takes one event id (a UUID)')
      const printer = new Printer(deps, values)
      await withStore(deps, async (store, users) => {
        const event = await inspection(store, 'readEvent')(positionals[0]!.toLowerCase())
        if (!event) throw new CommandFailed(`no event with id ${positionals[0]}`)
        const userId = event.metadata?.userId
        const view = eventView(event, userId && users ? await users([userId]) : undefined)
        if (printer.tables) printer.text(eventDetail(view))
        else printer.jsonLines([view])
      })
      return
    }
    default:
      throw new UsageError(`unknown streams command "${action}"`)
  }
}

/** Opens the services, runs `body` with the store, closes them; an inspection the store lacks is a failure. */
async function withStore(deps: StreamsCommandDeps, body: (store: EventStore, users: DescribeUsers | undefined) => Promise<void>): Promise<void> {
  const services = await openForOps(deps, deps.openServices)
  try {
    const users = deps.users ? rememberingUsers(deps.users(services.store)) : undefined
    await body(services.store, users)
  } catch (error) {
    if (error instanceof InspectionUnsupported) throw new CommandFailed(error.message)
    throw error
  } finally {
    await services.close()
  }
}

/** how long to wait for a notification before looking anyway (a missed one costs this much) */
const IDLE_POLL_MS = 5_000
/** how soon to look again while committed events are not readable yet (an older transaction is open) */
const BUSY_POLL_MS = 200
const FOLLOW_PAGE = 500
const NO_SUCH_TYPE = '(no event has this type)'

/**
 * `streams log --follow`: prints the log from `query.after` (without --after: from the head, only
 * new events), then every new event as the store announces appends (onAppended: LISTEN/NOTIFY on
 * PostgreSQL, across processes), reading from the last position it has scanned. Until SIGINT or
 * SIGTERM; then it returns, and the command exits 0.
 */
async function follow(store: EventStore, users: DescribeUsers | undefined, printer: Printer, query: LogQuery, fromGiven: boolean): Promise<void> {
  let stopped = false
  let wake: (() => void) | undefined
  let announced = 0
  const unsubscribe = store.onAppended((position) => {
    announced = Math.max(announced, position)
    wake?.()
  })
  const stop = () => {
    stopped = true
    wake?.()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    let after = query.after
    if (!fromGiven) {
      // from now on: skip what readers can see already. A type no event has matches nothing, so
      // scannedTo is the readable head; events committed but not readable yet are shown (better
      // once too many than one missing)
      after = (await store.readAll({ after: 0, limit: 1, eventTypes: [NO_SUCH_TYPE] })).scannedTo
    }
    let header = true
    printer.note(`following the log after position ${after}; Ctrl-C to stop`)
    while (!stopped) {
      const slice = await readLogPage(store, { ...query, after, limit: FOLLOW_PAGE })
      if (stopped) break
      if (slice.events.length > 0) {
        printEvents(printer, await eventViews(slice.events, users), { header })
        header = false
      }
      after = Math.max(after, slice.scannedTo)
      if (slice.events.length === FOLLOW_PAGE) continue
      // committed events not readable yet (an older writer's transaction is still open): look again soon
      const behind = Math.max(announced, await store.headPosition()) > after
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, behind ? BUSY_POLL_MS : IDLE_POLL_MS)
        function done(): void {
          clearTimeout(timer)
          wake = undefined
          resolve()
        }
        wake = done
        if (stopped) done()
      })
    }
  } finally {
    process.removeListener('SIGINT', stop)
    process.removeListener('SIGTERM', stop)
    unsubscribe()
  }
}
