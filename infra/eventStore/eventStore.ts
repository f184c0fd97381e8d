/**
 * The event store port. Two adapters implement it (PostgreSQL, KurrentDB) and both must pass
 * tests/infra/eventStoreContract.ts.
 *
 * - Streams are named `category-id`; the category is everything before the first `-`.
 * - Stream versions start at 0 (the first event of a stream has version 0).
 * - Every event has a global position: readers of the global log see events in position order and
 *   never see a position lower than one they have already read. Positions are increasing, not
 *   dense: there are gaps.
 * - Appends are atomic per call, even across several streams, and idempotent per event id.
 */

/** Who and what caused an event; carried by every event, never secrets. */
export interface EventMetadata {
  tenantId: string | null
  userId: string | null
  correlationId: string
  causationId: string | null
  ip: string | null
  userAgent: string | null
  /** ISO-8601 time the command was decided, from the injected clock */
  occurredAt: string
  schemaVersion: number
}

export interface NewEvent<Type extends string = string, Data = unknown> {
  /** client-generated; appending an event id that is already recorded is a no-op */
  id: string
  type: Type
  data: Data
  metadata: EventMetadata
}

export interface RecordedEvent<Type extends string = string, Data = unknown> {
  id: string
  type: Type
  data: Data
  metadata: EventMetadata
  streamName: string
  streamVersion: number
  position: number
  recordedAt: Date
}

/** `no_stream`: the stream must not exist; `stream_exists`: it must; `any`: no check; n: its last version is n. */
export type ExpectedVersion = number | 'no_stream' | 'stream_exists' | 'any'

export interface AppendRequest {
  streamName: string
  expectedVersion: ExpectedVersion
  events: NewEvent[]
}

export interface AppendResult {
  /** the version of each stream after the append, in request order */
  streams: { streamName: string; version: number }[]
  /** global position of the last event written (or of the already-recorded duplicate) */
  lastPosition: number
  /** true when every event id was already recorded and nothing was written */
  duplicate: boolean
}

export interface ReadStreamOptions {
  direction?: 'forward' | 'backward'
  /** inclusive; forward defaults to 0, backward to the end */
  fromVersion?: number
  limit?: number
}

export interface StreamSlice {
  events: RecordedEvent[]
  /** the stream's last version, or -1 when the stream does not exist */
  version: number
}

export interface ReadAllOptions {
  /** exclusive: events after this position (0 reads from the start) */
  after?: number
  limit?: number
  eventTypes?: readonly string[]
  categories?: readonly string[]
  tenantId?: string
}

export interface GlobalSlice {
  events: RecordedEvent[]
  /**
   * Every event at or below this position that matches the filter has been returned (now or in
   * an earlier read): a reader may checkpoint here even when `events` is empty.
   */
  scannedTo: number
}

/** Global-log reading with time bounds, for inspection (`mifumo streams log`, GET /api/admin/events/). */
export interface ReadLogOptions extends ReadAllOptions {
  /** inclusive lower bound on the event's time */
  from?: Date
  /** exclusive upper bound on the event's time */
  to?: Date
  /** which time `from` and `to` bound: when the command was decided (metadata.occurredAt, the default) or when the store recorded it */
  timeField?: 'occurred_at' | 'recorded_at'
}

export interface CategorySummary {
  category: string
  streams: number
  events: number
}

export interface StreamSummary {
  streamName: string
  category: string
  /** the stream's last version: it holds version + 1 events */
  version: number
  /** global position of its last event */
  lastPosition: number
  /** when its last event was recorded */
  lastRecordedAt: Date
}

export interface ListStreamsOptions {
  category?: string
  /** how many streams (in name order) to skip */
  offset?: number
  limit?: number
}

/**
 * Inspection queries, for operators. Optional: an adapter that cannot answer them cheaply leaves
 * them out, and the inspection tools say that this store does not offer them.
 */
export interface EventStoreInspection {
  /** every category, with how many streams and events it holds */
  listCategories?(): Promise<CategorySummary[]>
  /** streams in name order, with the total matching count */
  listStreams?(options: ListStreamsOptions): Promise<{ streams: StreamSummary[]; total: number }>
  /** one event by its id, or null */
  readEvent?(eventId: string): Promise<RecordedEvent | null>
  /** readAll with time bounds */
  readLog?(options: ReadLogOptions): Promise<GlobalSlice>
}

export interface EventStore extends EventStoreInspection {
  readonly kind: 'postgres' | 'kurrentdb'
  append(requests: AppendRequest[]): Promise<AppendResult>
  readStream(streamName: string, options?: ReadStreamOptions): Promise<StreamSlice>
  readAll(options?: ReadAllOptions): Promise<GlobalSlice>
  /**
   * Several whole streams in one read (one round trip on PostgreSQL), in the order asked; each as
   * readStream(name) would answer it. Optional: callers fall back to readStream one by one.
   */
  readStreams?(streamNames: readonly string[]): Promise<StreamSlice[]>
  /**
   * Position of the last committed event (0 for an empty store). A reader may not see it yet
   * (on PostgreSQL, until older writers' transactions end); a reader that has reached it has seen
   * everything committed before this call.
   */
  headPosition(): Promise<number>
  /**
   * How many events match, between two positions (for progress reports). Optional: a store that
   * cannot count cheaply leaves it out and progress is shown by position instead.
   */
  countEvents?(options: { after?: number; upTo: number; eventTypes?: readonly string[] }): Promise<number>
  /** called with a position hint whenever new events may be readable; returns the unsubscribe */
  onAppended(listener: (position: number) => void): () => void
  close(): Promise<void>
}

export class WrongExpectedVersion extends Error {
  readonly streamName: string
  readonly expected: ExpectedVersion
  readonly actual: number

  constructor(streamName: string, expected: ExpectedVersion, actual: number) {
    super(`stream ${streamName}: expected version ${String(expected)}, actual ${actual === -1 ? 'no stream' : actual}`)
    this.name = 'WrongExpectedVersion'
    this.streamName = streamName
    this.expected = expected
    this.actual = actual
  }
}

export class InvalidAppend extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InvalidAppend'
  }
}

export function streamCategory(streamName: string): string {
  const dash = streamName.indexOf('-')
  return dash === -1 ? streamName : streamName.slice(0, dash)
}

export function streamName(category: string, id: string): string {
  if (category.includes('-')) throw new InvalidAppend(`category "${category}" must not contain "-"`)
  return `${category}-${id}`
}
