import {
  streamCategory,
  type EventStore,
  type EventStoreInspection,
  type GlobalSlice,
  type ReadLogOptions,
  type RecordedEvent,
  type StreamSummary,
} from '../eventStore/eventStore.ts'

/**
 * Stream inspection for operators, shared by the admin HTTP endpoints (queries/adminStreamRoutes.ts)
 * and `mifumo streams` (infra/ops/streamsCommand.ts): one snake_case view of an event, paging of a
 * stream in either direction, and the global log with filters. Nothing here changes state.
 *
 * Events are shown as today's code reads them: the store given is the upcasting one, so an event
 * written under an older schema version shows its upcast data and current `schema_version`.
 */

/** One stream of a listing, as operators see it (snake_case, ISO times). */
export function streamView(stream: StreamSummary) {
  return {
    stream: stream.streamName,
    category: stream.category,
    version: stream.version,
    event_count: stream.version + 1,
    last_position: stream.lastPosition,
    last_recorded_at: stream.lastRecordedAt.toISOString(),
  }
}

/** Who a user id is, as far as it is cheap to tell. */
export interface UserSummary {
  name: string | null
  email: string | null
}

/** Names the users behind some ids (those it cannot name are left out of the map). */
export type DescribeUsers = (userIds: readonly string[]) => Promise<Map<string, UserSummary>>

/** One event as every inspection view shows it. */
export interface EventView {
  id: string
  type: string
  stream: string
  category: string
  /** the event's version in its stream (0 for the first) */
  version: number
  /** its global position */
  position: number
  /** when the command was decided (metadata.occurredAt, from the service's clock) */
  occurred_at: string
  /** when the store recorded it */
  recorded_at: string
  tenant_id: string | null
  /** who: null for the system (scheduled jobs, reactors) */
  user_id: string | null
  user_name: string | null
  user_email: string | null
  /** from where */
  ip: string | null
  user_agent: string | null
  correlation_id: string | null
  causation_id: string | null
  schema_version: number
  data: unknown
}

export function eventView(event: RecordedEvent, users?: ReadonlyMap<string, UserSummary>): EventView {
  const metadata = event.metadata ?? ({} as Partial<RecordedEvent['metadata']>)
  const userId = metadata.userId ?? null
  const user = userId ? users?.get(userId) : undefined
  return {
    id: event.id,
    type: event.type,
    stream: event.streamName,
    category: streamCategory(event.streamName),
    version: event.streamVersion,
    position: event.position,
    occurred_at: metadata.occurredAt ?? event.recordedAt.toISOString(),
    recorded_at: event.recordedAt.toISOString(),
    tenant_id: metadata.tenantId ?? null,
    user_id: userId,
    user_name: user?.name ?? null,
    user_email: user?.email ?? null,
    ip: metadata.ip ?? null,
    user_agent: metadata.userAgent ?? null,
    correlation_id: metadata.correlationId ?? null,
    causation_id: metadata.causationId ?? null,
    schema_version: metadata.schemaVersion ?? 1,
    data: event.data,
  }
}

/** The events' views, with the names of the users behind them when `describeUsers` is given. */
export async function eventViews(events: readonly RecordedEvent[], describeUsers?: DescribeUsers): Promise<EventView[]> {
  if (events.length === 0) return []
  const ids = [...new Set(events.map((event) => event.metadata?.userId).filter((id): id is string => typeof id === 'string' && id !== ''))]
  const users = describeUsers && ids.length > 0 ? await describeUsers(ids) : undefined
  return events.map((event) => eventView(event, users))
}

/** What `describeUsers` answers, remembered (for a long-running `--follow`): at most `max` users. */
export function rememberingUsers(describeUsers: DescribeUsers, max = 1000): DescribeUsers {
  const known = new Map<string, UserSummary | null>()
  return async (userIds) => {
    const missing = userIds.filter((id) => !known.has(id))
    if (missing.length > 0) {
      const found = await describeUsers(missing)
      for (const id of missing) {
        if (known.size >= max) known.delete(known.keys().next().value as string)
        known.set(id, found.get(id) ?? null)
      }
    }
    const answer = new Map<string, UserSummary>()
    for (const id of userIds) {
      const user = known.get(id)
      if (user) answer.set(id, user)
    }
    return answer
  }
}

/** The store cannot answer an inspection query (the KurrentDB adapter has no SQL to ask). */
export class InspectionUnsupported extends Error {
  constructor(store: EventStore, what: string) {
    super(`The ${store.kind} event store does not offer ${what}; inspect the PostgreSQL event store, or use the KurrentDB tools for this.`)
    this.name = 'InspectionUnsupported'
  }
}

const DESCRIPTIONS: Record<keyof EventStoreInspection, string> = {
  listCategories: 'listing categories',
  listStreams: 'listing streams',
  readEvent: 'reading one event by id',
  readLog: 'time filters on the global log',
}

/** The store's inspection query, or InspectionUnsupported. */
export function inspection<K extends keyof EventStoreInspection>(store: EventStore, method: K): NonNullable<EventStoreInspection[K]> {
  const query = store[method]
  if (!query) throw new InspectionUnsupported(store, DESCRIPTIONS[method])
  return query as NonNullable<EventStoreInspection[K]>
}

export interface LogQuery {
  /** exclusive: events after this position */
  after: number
  limit: number
  eventTypes?: readonly string[]
  categories?: readonly string[]
  tenantId?: string
  from?: Date
  to?: Date
  timeField?: 'occurred_at' | 'recorded_at'
}

/**
 * A page of the global log in position order. Time bounds need the store's `readLog`; without
 * them, plain `readAll` serves (every adapter has it). `scannedTo` is where the next page starts.
 */
export async function readLogPage(store: EventStore, query: LogQuery): Promise<GlobalSlice> {
  const options: ReadLogOptions = { after: query.after, limit: query.limit }
  if (query.eventTypes && query.eventTypes.length > 0) options.eventTypes = query.eventTypes
  if (query.categories && query.categories.length > 0) options.categories = query.categories
  if (query.tenantId) options.tenantId = query.tenantId
  const timed = query.from !== undefined || query.to !== undefined
  if (!timed) return store.readAll(options)
  return inspection(store, 'readLog')({ ...options, from: query.from, to: query.to, timeField: query.timeField ?? 'occurred_at' })
}

export interface StreamPageQuery {
  direction: 'forward' | 'backward'
  /** inclusive; forward starts at 0 by default, backward at the stream's last version */
  fromVersion?: number
  limit: number
}

export interface StreamPage {
  stream: string
  category: string
  /** the stream's last version (it holds version + 1 events); -1: no such stream */
  version: number
  direction: 'forward' | 'backward'
  events: RecordedEvent[]
  /** from_version of the next page in the same direction, null at the end */
  nextFromVersion: number | null
  /** from_version of the page before this one in the same direction, null at the start */
  previousFromVersion: number | null
}

/** One page of a stream, with the cursors (from_version values) of its neighbours. */
export async function readStreamPage(store: EventStore, stream: string, query: StreamPageQuery): Promise<StreamPage> {
  const backward = query.direction === 'backward'
  const slice = await store.readStream(stream, { direction: query.direction, fromVersion: query.fromVersion, limit: query.limit })
  const { version, events } = slice
  let next: number | null = null
  let previous: number | null = null
  if (version >= 0) {
    if (backward) {
      const start = Math.min(query.fromVersion ?? version, version)
      const last = events.at(-1)?.streamVersion
      next = last !== undefined && last > 0 ? last - 1 : null
      previous = start < version ? Math.min(version, start + query.limit) : null
    } else {
      const start = query.fromVersion ?? 0
      const last = events.at(-1)?.streamVersion
      next = last !== undefined && last < version ? last + 1 : null
      previous = start > 0 ? Math.max(0, Math.min(start, version + 1) - query.limit) : null
    }
  }
  return { stream, category: streamCategory(stream), version, direction: query.direction, events, nextFromVersion: next, previousFromVersion: previous }
}
