import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  ANY,
  BACKWARDS,
  END,
  ErrorType,
  FORWARDS,
  KurrentDBClient,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamNotFoundError,
  UnsupportedError,
  WrongExpectedVersionError,
  eventTypeFilter,
  isCommandError,
  streamNameFilter,
  type AllStreamSubscription,
  type AppendStreamRequest,
  type AppendStreamState,
  type CurrentStreamState,
  type EventData,
  type Filter,
  type JSONType,
  type Position,
  type ReadPosition,
} from '@kurrent/kurrentdb-client'
import {
  InvalidAppend,
  WrongExpectedVersion,
  streamCategory,
  type AppendRequest,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedVersion,
  type GlobalSlice,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamSlice,
} from './eventStore.ts'

/**
 * The KurrentDB (formerly EventStoreDB) event store, on the official gRPC client. Every decision
 * that maps the port (eventStore.ts) onto KurrentDB is written down next to the code that makes
 * it; the summary:
 *
 * Streams and categories
 * - A port stream `category-id` is the KurrentDB stream `${streamPrefix}category-id`. The prefix
 *   is empty in production; tests (and several deployments sharing one server) give every store a
 *   prefix of its own, which is how "a fresh, empty store" exists on a server that cannot be
 *   emptied. The category is ours (the text before the first `-` of the port name), not
 *   KurrentDB's `$ce-` projection, which needs no configuration here.
 * - KurrentDB reserves names starting with `$` (system and metadata streams): an append to one is
 *   refused (InvalidAppend), reads never return their events, and events whose type starts with
 *   `$` (links, tombstones) are not events of ours either.
 *
 * Versions: KurrentDB stream revisions start at 0 like ours. Expected versions map one to one:
 * 'no_stream' → NO_STREAM, 'stream_exists' → STREAM_EXISTS, 'any' → ANY, n → BigInt(n).
 *
 * Global positions: the port's position is the event's **commit position** in the transaction
 * log, a byte offset. KurrentDB's storage writer writes every gRPC append (single- and
 * multi-stream) as self-committed records, so an event's $all position is {commit: p, prepare: p}
 * with p its own record's offset: unique, increasing in log order, with gaps (the record sizes).
 * It is converted to a JS number, exact up to 2^53 bytes (8 PiB) of log; a larger position is
 * refused with an error rather than rounded. Events written by explicit transactions of the
 * retired TCP API share their commit position: a log that holds some breaks "strictly increasing"
 * for them (not supported).
 *
 * Appends
 * - One stream: appendToStream. Several streams: multiStreamAppend (KurrentDB 25.1 or later; the
 *   client answers UnsupportedError before that, reported as such). Both are atomic.
 * - Every event carries, in its metadata, the id of the append() call that wrote it
 *   (`appendId`). After a successful append the last event of the last stream is read back: it is
 *   the request's last event either way, and its appendId says whether this call wrote it or the
 *   server acknowledged an earlier identical append (duplicate). The read-back also gives the
 *   position exactly as readers will see it. Cost: one extra read per append. (KurrentDB
 *   acknowledges an append once it is indexed, so the leader reads it back at once.)
 * - Stricter than PostgreSQL before anything is sent: event ids must be UUIDs (KurrentDB's ids
 *   are), an id may appear once per call, and a stream name may not start with `$` (unless a
 *   prefix puts something before it).
 * - Idempotency is KurrentDB's, per stream and event id, and weaker than PostgreSQL's (where an id
 *   is unique across the whole log):
 *   - with an explicit expected version (a number or 'no_stream') the server compares the ids with
 *     the events that follow that version in the stream, from its index: a retry with the same
 *     expected version is recognised however long ago the original was written;
 *   - with 'any' or 'stream_exists' it looks the ids up in an in-memory cache of recently written
 *     ids (bounded, emptied by a restart): "best effort". A retry whose ids have left the cache is
 *     WRITTEN AGAIN (duplicate events in the stream); PostgreSQL never does that. Our commands
 *     append with explicit versions.
 *   - the same id appended to ANOTHER stream is a new event on KurrentDB (PostgreSQL: a duplicate
 *     or InvalidAppend).
 *   - a retry with a different expected version than the original, or a partial overlap (some ids
 *     recorded, some new), comes back as a wrong expected version. The adapter then inspects the
 *     latest `idempotencyWindow` (2048) events of each stream: all ids found → a duplicate
 *     (AppendResult duplicate: true, the original positions); some → InvalidAppend; none → the
 *     conflict it is (WrongExpectedVersion with the actual version). Ids deeper in the stream than
 *     the window are not seen (PostgreSQL sees the whole log).
 * - Timeouts, deadline and availability errors are retried (3 attempts, same appendId): an append
 *   whose first attempt landed is then acknowledged as idempotent and still reported as written.
 *   This also covers KurrentDB dropping a copy of an append whose original is not yet replicated.
 *
 * Metadata and data
 * - Data is stored as JSON (content type application/json).
 * - Our EventMetadata is the event's JSON metadata, one string-valued property per field
 *   (multiStreamAppend accepts only string values, and both paths write the same shape): string
 *   fields as they are, a null field left out, schemaVersion in decimal, plus `appendId`. Reading
 *   rebuilds the typed EventMetadata and ignores other properties (KurrentDB adds `$schema.*` to
 *   multi-stream appends).
 * - recordedAt is the server's `created` time.
 *
 * Reading the global log
 * - readAll(after) starts reading $all at {commit: after, prepare: after}, which KurrentDB reads
 *   INCLUSIVELY: the event at `after` is skipped. A read may only start at a record boundary (the
 *   server answers an error, or nothing, for a position inside a record), and the port lets a
 *   caller pass any number: a position not known as an event's is checked first (a one-event read
 *   that must return an event at exactly that position); otherwise the read starts from the
 *   greatest known event position below it, or from the start, skipping what is not after `after`.
 * - Filters: the server filters on ONE of stream name or event type. categories → stream-name
 *   prefixes `${prefix}${category}-`; otherwise eventTypes → event-type prefixes; otherwise the
 *   prefix itself (or, without one, the regex `^[^$]`: no system streams). Everything is checked
 *   again on the client: exact event types, categories, the prefix, and tenantId (metadata is not
 *   filterable on the server: tenant filtering is client-side and scans every event of the other
 *   filters).
 * - scannedTo: a full page ends at its last event. Otherwise the read went to the end of $all, so
 *   scannedTo = max(after, the last scanned event, headPosition() read BEFORE the page): every
 *   matching event up to that position has been returned, even when none matched (a reader of a
 *   rare event type still moves its checkpoint). The head is one of our events, so a checkpoint is
 *   never the position of a system event (which $maxAge scavenging removes). The cost is one
 *   backwards read per readAll. A sparse client-side filter stops after scanning 10,000 events
 *   (or 10 × limit) and checkpoints at the last scanned event. KurrentDB's checkpoint messages of
 *   filtered reads reach subscriptions only; this client's reads do not expose them.
 * - KurrentDB commits in log order: a reader never meets a position lower than one it has read,
 *   so no PostgreSQL-style visibility horizon is needed.
 * - Reads are sent to the leader (requiresLeader): a follower may lag behind the position an
 *   append just returned.
 *
 * headPosition(): the position of the last event of ours (our prefix, no system stream, no
 *   `$` type): $all read backwards, filtered, one event.
 * onAppended(): this process's appends wake listeners at once; other processes' appends arrive
 *   through a filtered subscribeToAll from the end (resumed after its last event, with backoff,
 *   when it fails), started with the first listener, ended with the last one and by close().
 */

/** The part of the KurrentDB client this adapter uses (a test may pass a stand-in). */
export type KurrentClient = Pick<KurrentDBClient, 'appendToStream' | 'multiStreamAppend' | 'readStream' | 'readAll' | 'subscribeToAll' | 'dispose'>

export interface KurrentEventStoreOptions {
  /** prepended to every stream name: isolates this store's streams on a shared server ('' by default) */
  streamPrefix?: string
  /** how many of a stream's latest events a refused append inspects for already-recorded ids */
  idempotencyWindow?: number
}

/** metadata property carrying the id of the append() call that wrote the event */
export const APPEND_ID_KEY = 'appendId'

const DEFAULT_IDEMPOTENCY_WINDOW = 2048
/** attempts of an append failing with a timeout / unavailable / not-leader error */
const MAX_TRANSIENT_ATTEMPTS = 3
/** attempts of an append whose conflict is gone when inspected (a stream created meanwhile) */
const MAX_CONFLICT_ATTEMPTS = 3
/** page of a read whose client-side filter (tenant, categories and types together) is selective */
const SELECTIVE_PAGE = 500
/** events scanned by one readAll before it checkpoints at the last one */
const MIN_SCAN_BOUND = 10_000
/** events read per page while looking backwards for the head */
const HEAD_PAGE = 32
/** known event positions kept to start reads from (see #startFor) */
const KNOWN_POSITIONS = 10_000
const SUBSCRIPTION_BACKOFF_MIN_MS = 250
const SUBSCRIPTION_BACKOFF_MAX_MS = 30_000

// ---------------------------------------------------------------------------------------------
// Mappings (pure, unit-tested without a server in tests/infra/kurrentMapping.test.ts)
// ---------------------------------------------------------------------------------------------

/** Our expected version → the client's stream state. */
export function toStreamState(expected: ExpectedVersion): AppendStreamState {
  switch (expected) {
    case 'no_stream':
      return NO_STREAM
    case 'stream_exists':
      return STREAM_EXISTS
    case 'any':
      return ANY
    default:
      if (typeof expected !== 'number' || !Number.isSafeInteger(expected) || expected < 0) {
        throw new InvalidAppend(`expected version ${String(expected)} is not a version`)
      }
      return BigInt(expected)
  }
}

/**
 * The client's report of a stream's state → our version: 'no_stream' → -1, a revision → itself.
 * KurrentDB reports a soft-deleted stream as -5 and a tombstoned one as -6: neither exists for us
 * (-1); this adapter never deletes.
 */
export function toVersion(state: CurrentStreamState | bigint): number {
  if (state === NO_STREAM) return -1
  if (typeof state !== 'bigint' || state < 0n) return -1
  return safeNumber(state, 'stream revision')
}

/** Whether a stream at `version` (-1: missing) satisfies an expected version. */
export function satisfies(expected: ExpectedVersion, version: number): boolean {
  if (expected === 'any') return true
  if (expected === 'no_stream') return version === -1
  if (expected === 'stream_exists') return version >= 0
  return version === expected
}

function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} ${value} is beyond 2^53: not representable as a position`)
  return Number(value)
}

/**
 * A KurrentDB position → our global position: the commit position. Modern appends write
 * self-committed records whose commit and prepare positions are equal in $all reads; stream reads
 * of older servers may report the transaction's first record as the prepare position, which is
 * why only the commit position is used.
 */
export function toGlobalPosition(position: Position): number {
  if (position.commit < 0n) throw new RangeError(`KurrentDB reported no position (${position.commit}): a server older than 22.6?`)
  return safeNumber(position.commit, 'commit position')
}

/** Where a $all read starting at our position begins: the start, or the record at that position (inclusive). */
export function toReadPosition(after: number): ReadPosition {
  if (after <= 0) return START
  const at = BigInt(after)
  return { commit: at, prepare: at }
}

export function toKurrentStreamName(prefix: string, streamName: string): string {
  return `${prefix}${streamName}`
}

/** The port's name of a KurrentDB stream, or undefined when it is not one of ours. */
export function fromKurrentStreamName(prefix: string, kurrentName: string): string | undefined {
  if (kurrentName.startsWith('$')) return undefined
  if (!kurrentName.startsWith(prefix)) return undefined
  const name = kurrentName.slice(prefix.length)
  return name === '' ? undefined : name
}

/** A stream prefix must keep our streams out of KurrentDB's reserved `$` names and be printable. */
export function validateStreamPrefix(prefix: string): string {
  if (prefix.startsWith('$') || /[\s\p{Cc}]/u.test(prefix)) throw new Error(`stream prefix "${prefix}" must not start with "$" nor contain spaces or control characters`)
  return prefix
}

const STRING_FIELDS = ['tenantId', 'userId', 'correlationId', 'causationId', 'ip', 'userAgent', 'occurredAt'] as const

/**
 * EventMetadata → the event's JSON metadata: one string per field (a null field is left out),
 * schemaVersion in decimal, and the append's id.
 */
export function encodeMetadata(metadata: EventMetadata, appendId: string): Record<string, string> {
  const encoded: Record<string, string> = {}
  for (const field of STRING_FIELDS) {
    const value = metadata[field]
    if (value !== null && value !== undefined) encoded[field] = String(value)
  }
  encoded.schemaVersion = String(metadata.schemaVersion)
  encoded[APPEND_ID_KEY] = appendId
  return encoded
}

/**
 * The event's metadata as read back → EventMetadata and the appendId. Tolerates events written by
 * others: typed JSON values are accepted too, a missing field is null ('' for the two required
 * strings), a missing schema version is 1; every other property is ignored.
 */
export function decodeMetadata(raw: unknown): { metadata: EventMetadata; appendId: string | undefined } {
  const source: Record<string, unknown> = raw !== null && typeof raw === 'object' && !(raw instanceof Uint8Array) && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {}
  const text = (key: string): string | null => {
    const value = source[key]
    if (typeof value === 'string') return value
    if (typeof value === 'number' || typeof value === 'boolean') return String(value)
    return null
  }
  const version = source.schemaVersion
  const schemaVersion = typeof version === 'number' ? version : typeof version === 'string' && /^-?\d+$/.test(version) ? Number(version) : 1
  return {
    metadata: {
      tenantId: text('tenantId'),
      userId: text('userId'),
      correlationId: text('correlationId') ?? '',
      causationId: text('causationId'),
      ip: text('ip'),
      userAgent: text('userAgent'),
      occurredAt: text('occurredAt') ?? '',
      schemaVersion,
    },
    appendId: text(APPEND_ID_KEY) ?? undefined,
  }
}

/** The event's data as read back: parsed JSON (the client parses JSON events; raw bytes are parsed here). */
export function decodeData(data: unknown): unknown {
  if (data instanceof Uint8Array) {
    const text = Buffer.from(data).toString('utf8')
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  return data
}

/** A NewEvent → the client's event: JSON data, our metadata encoding. */
export function toEventData(event: NewEvent, appendId: string): EventData {
  return {
    id: event.id,
    contentType: 'application/json',
    type: event.type,
    // any JSON value; the client serialises it with JSON.stringify
    data: event.data as JSONType,
    metadata: encodeMetadata(event.metadata, appendId),
  }
}

/** What the adapter needs of a recorded event as the client returns it (stream and $all reads alike). */
export interface ClientRecordedEvent {
  streamId: string
  id: string
  type: string
  revision: bigint
  created: Date
  data: unknown
  metadata?: unknown
  position?: Position
}

export interface ClientResolvedEvent {
  event?: ClientRecordedEvent
  link?: unknown
  commitPosition?: bigint
}

export interface DecodedEvent {
  event: RecordedEvent
  /** the append() call that wrote it (undefined for events written by others) */
  appendId: string | undefined
}

/** The KurrentDB position of a read result: the event's own, else the result's commit position. */
export function rawPositionOf(resolved: ClientResolvedEvent): Position | undefined {
  if (resolved.event?.position) return resolved.event.position
  if (resolved.commitPosition !== undefined) return { commit: resolved.commitPosition, prepare: resolved.commitPosition }
  return undefined
}

/** A read result → our RecordedEvent, or undefined when it is not an event of ours (other prefix, system stream, `$` type). */
export function decodeResolvedEvent(resolved: ClientResolvedEvent, prefix: string): DecodedEvent | undefined {
  const recorded = resolved.event
  if (!recorded) return undefined
  const streamName = fromKurrentStreamName(prefix, recorded.streamId)
  if (streamName === undefined || recorded.type.startsWith('$')) return undefined
  const position = rawPositionOf(resolved)
  if (!position) throw new Error(`KurrentDB returned event ${recorded.id} without a position (a server older than 22.6?)`)
  const { metadata, appendId } = decodeMetadata(recorded.metadata)
  return {
    event: {
      id: recorded.id,
      type: recorded.type,
      data: decodeData(recorded.data),
      metadata,
      streamName,
      streamVersion: safeNumber(recorded.revision, 'stream revision'),
      position: toGlobalPosition(position),
      recordedAt: recordedAtOf(recorded.created, metadata),
    },
    appendId,
  }
}

/** The server's creation time; an unusable one falls back to the decision time, then to the epoch. */
function recordedAtOf(created: unknown, metadata: EventMetadata): Date {
  if (created instanceof Date && !Number.isNaN(created.getTime())) return created
  if (typeof created === 'number' && Number.isFinite(created)) return new Date(created)
  const decided = new Date(metadata.occurredAt)
  return Number.isNaN(decided.getTime()) ? new Date(0) : decided
}

/** How one readAll is split between the server's filter and the client's. */
export interface ReadAllPlan {
  /** the server-side filter (one dimension: stream name or event type) */
  serverFilter: Filter
  /** the full filter, applied to every decoded event */
  matches(event: RecordedEvent): boolean
  /** the client drops many of the server's events (tenant, or categories and types together): read bigger pages */
  selective: boolean
  /** an empty list of categories or types matches nothing (as `= any('{}')` does on PostgreSQL) */
  matchesNothing: boolean
}

/** The filter that keeps only our streams: the prefix, or without one every non-system stream. */
export function ourStreamsFilter(prefix: string): Filter {
  return prefix === '' ? streamNameFilter({ regex: '^[^$]' }) : streamNameFilter({ prefixes: [prefix] })
}

export function planReadAll(options: Pick<ReadAllOptions, 'eventTypes' | 'categories' | 'tenantId'>, prefix: string): ReadAllPlan {
  const types = options.eventTypes ? new Set(options.eventTypes) : undefined
  const categories = options.categories ? new Set(options.categories) : undefined
  const tenantId = options.tenantId
  let serverFilter: Filter
  if (categories && categories.size > 0) {
    // `contact-` matches `contact-…` and not `contacts-…`: exactly the category (it has no dash)
    serverFilter = streamNameFilter({ prefixes: [...categories].map((category) => `${prefix}${category}-`) })
  } else if (types && types.size > 0) {
    // prefixes, not a regex (no escaping to get wrong); exactness is checked below
    serverFilter = eventTypeFilter({ prefixes: [...types] })
  } else {
    serverFilter = ourStreamsFilter(prefix)
  }
  return {
    serverFilter,
    matches: (event) =>
      (!types || types.has(event.type)) &&
      (!categories || categories.has(streamCategory(event.streamName))) &&
      (!tenantId || event.metadata.tenantId === tenantId),
    selective: Boolean(tenantId) || Boolean(types && categories),
    matchesNothing: (types !== undefined && types.size === 0) || (categories !== undefined && categories.size === 0),
  }
}

/** The stream a wrong-expected-version error names (as a port name) and its actual version, when it names one of ours. */
export function wrongVersionOf(error: unknown, prefix: string): { streamName: string; actual: number } | undefined {
  if (!(error instanceof WrongExpectedVersionError)) return undefined
  const streamName = typeof error.streamName === 'string' ? fromKurrentStreamName(prefix, error.streamName) : undefined
  if (streamName === undefined) return undefined
  return { streamName, actual: toVersion(error.actualState) }
}

/** Errors after which the same append may simply be sent again (idempotent by event id). */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error) || !isCommandError(error)) return false
  return error.type === ErrorType.TIMEOUT || error.type === ErrorType.DEADLINE_EXCEEDED || error.type === ErrorType.UNAVAILABLE || error.type === ErrorType.NOT_LEADER
}

/** Errors of a multi-stream append that may hide a conflict or an overlap: the adapter inspects the streams. */
function mayBeConflict(error: unknown): boolean {
  if (error instanceof WrongExpectedVersionError) return true
  if (!(error instanceof Error) || !isCommandError(error)) return false
  return error.type === ErrorType.APPEND_CONSISTENCY_VIOLATION || error.type === ErrorType.UNKNOWN
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Event ids are UUIDs: KurrentDB answers them in lower case whatever case they were sent in. */
function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}

/** The checks every adapter makes before writing anything, plus KurrentDB's own rules (UUID ids, no `$` streams). */
export function validateAppend(requests: readonly AppendRequest[], prefix: string): void {
  if (requests.length === 0) throw new InvalidAppend('nothing to append')
  const streams = new Set<string>()
  const ids = new Set<string>()
  for (const request of requests) {
    if (!request.streamName || request.streamName.startsWith('-')) throw new InvalidAppend(`bad stream name "${request.streamName}"`)
    if (toKurrentStreamName(prefix, request.streamName).startsWith('$')) throw new InvalidAppend(`stream name "${request.streamName}" is reserved by KurrentDB ("$")`)
    if (streams.has(request.streamName)) throw new InvalidAppend(`stream ${request.streamName} appears twice in one append`)
    streams.add(request.streamName)
    if (request.events.length === 0) throw new InvalidAppend(`no events for stream ${request.streamName}`)
    toStreamState(request.expectedVersion)
    for (const event of request.events) {
      if (!UUID.test(event.id)) throw new InvalidAppend(`event id "${event.id}" is not a UUID`)
      if (ids.has(event.id.toLowerCase())) throw new InvalidAppend(`event id ${event.id} appears twice in one append`)
      ids.add(event.id.toLowerCase())
      if (event.data === undefined) throw new InvalidAppend(`event ${event.id} has no data`)
    }
  }
}

/** Event positions seen by this store: where a read of $all may safely start (bounded, oldest forgotten first). */
export class KnownPositions {
  readonly #positions = new Set<number>()
  readonly #capacity: number

  constructor(capacity = KNOWN_POSITIONS) {
    this.#capacity = capacity
  }

  add(position: number): void {
    if (!(position > 0)) return
    this.#positions.delete(position)
    this.#positions.add(position)
    if (this.#positions.size > this.#capacity) {
      const oldest = this.#positions.values().next()
      if (!oldest.done) this.#positions.delete(oldest.value)
    }
  }

  has(position: number): boolean {
    return this.#positions.has(position)
  }

  /** the greatest known position strictly below `position` */
  below(position: number): number | undefined {
    let best: number | undefined
    for (const known of this.#positions) if (known < position && (best === undefined || known > best)) best = known
    return best
  }
}

// ---------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------

interface StreamScan {
  /** the stream's last version (-1: no stream) */
  version: number
  /** its latest events, newest first, of ours */
  events: DecodedEvent[]
}

type Diagnosis =
  | { kind: 'duplicate'; result: AppendResult }
  | { kind: 'partial' }
  | { kind: 'conflict'; error: WrongExpectedVersion }
  /** nothing violates its expected version any more (a stream was created meanwhile); `error` if it must be reported anyway */
  | { kind: 'gone'; error: WrongExpectedVersion }

export class KurrentEventStore implements EventStore {
  readonly kind = 'kurrentdb' as const
  readonly #client: KurrentClient
  readonly #prefix: string
  readonly #window: number
  readonly #ownsClient: boolean
  readonly #known = new KnownPositions()
  readonly #listeners = new Set<(position: number) => void>()
  #subscription: AllStreamSubscription | undefined
  #resumeFrom: Position | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #backoffMs = 0
  #closed = false

  private constructor(client: KurrentClient, options: KurrentEventStoreOptions, ownsClient: boolean) {
    this.#client = client
    this.#prefix = validateStreamPrefix(options.streamPrefix ?? '')
    this.#window = Math.max(1, options.idempotencyWindow ?? DEFAULT_IDEMPOTENCY_WINDOW)
    this.#ownsClient = ownsClient
  }

  /**
   * Connects to KurrentDB (a `kurrentdb://`, `esdb://`… connection string) and checks that it
   * answers; close() disconnects. Multi-stream appends need KurrentDB 25.1 or later.
   */
  static async open(connectionString: string, options: KurrentEventStoreOptions = {}): Promise<KurrentEventStore> {
    const client = KurrentDBClient.connectionString(connectionString)
    const store = new KurrentEventStore(client, options, true)
    try {
      await store.headPosition()
    } catch (error) {
      await client.dispose().catch(() => undefined)
      // the connection string may carry credentials: never repeat it
      throw new Error(`KurrentDB (EVENTSTORE_URL) did not answer: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
    }
    return store
  }

  /** A store on a client the caller owns (close() leaves it connected). */
  static withClient(client: KurrentClient, options: KurrentEventStoreOptions = {}): KurrentEventStore {
    return new KurrentEventStore(client, options, false)
  }

  // -- appends --------------------------------------------------------------------------------

  async append(requests: AppendRequest[]): Promise<AppendResult> {
    validateAppend(requests, this.#prefix)
    // one id per call, kept across its retries: an attempt that landed unseen is still ours
    const appendId = randomUUID()
    let transientAttempts = 0
    let conflictAttempts = 0
    for (;;) {
      try {
        const result = requests.length === 1 ? await this.#appendToOne(requests[0]!, appendId) : await this.#appendToMany(requests, appendId)
        this.#known.add(result.lastPosition)
        if (!result.duplicate) this.#wake(result.lastPosition)
        return result
      } catch (error) {
        if (error instanceof InvalidAppend || error instanceof WrongExpectedVersion) throw error
        if (isTransient(error) && ++transientAttempts < MAX_TRANSIENT_ATTEMPTS) {
          await sleep(100 * 4 ** (transientAttempts - 1))
          continue
        }
        if (error instanceof UnsupportedError) {
          throw new Error('appending to several streams at once needs KurrentDB 25.1 or later (multiStreamAppend)', { cause: error })
        }
        if (error instanceof WrongExpectedVersionError || (requests.length > 1 && mayBeConflict(error))) {
          const diagnosis = await this.#diagnose(requests, appendId, error)
          if (diagnosis.kind === 'duplicate') {
            this.#known.add(diagnosis.result.lastPosition)
            return diagnosis.result
          }
          if (diagnosis.kind === 'partial') throw new InvalidAppend('some but not all of these event ids are already recorded')
          if (diagnosis.kind === 'conflict') throw diagnosis.error
          if (error instanceof WrongExpectedVersionError) {
            // nothing violates its expected version any more (a stream was created meanwhile): try again
            if (++conflictAttempts < MAX_CONFLICT_ATTEMPTS) continue
            throw diagnosis.error
          }
        }
        throw error
      }
    }
  }

  async #appendToOne(request: AppendRequest, appendId: string): Promise<AppendResult> {
    const name = this.#name(request.streamName)
    const written = await this.#client.appendToStream(
      name,
      request.events.map((event) => toEventData(event, appendId)),
      { streamState: toStreamState(request.expectedVersion), requiresLeader: true },
    )
    if (!written.success) {
      // only when the client is configured not to throw on conflicts: make it the same error
      throw new WrongExpectedVersionError(undefined, {
        streamName: name,
        expected: toStreamState(request.expectedVersion),
        current: written.nextExpectedRevision < 0n ? NO_STREAM : written.nextExpectedRevision,
      })
    }
    // the revision answered is the request's last event's, whether written now or acknowledged as
    // a duplicate; its appendId tells which, its position is the one readers see
    const recorded = await this.#eventAt(name, written.nextExpectedRevision)
    if (recorded && sameId(recorded.event.id, request.events.at(-1)!.id)) {
      return {
        streams: [{ streamName: request.streamName, version: recorded.event.streamVersion }],
        lastPosition: recorded.event.position,
        duplicate: recorded.appendId !== appendId,
      }
    }
    return this.#locate([request], appendId)
  }

  async #appendToMany(requests: AppendRequest[], appendId: string): Promise<AppendResult> {
    const appends: AppendStreamRequest[] = requests.map((request) => ({
      streamName: this.#name(request.streamName),
      expectedState: toStreamState(request.expectedVersion),
      events: request.events.map((event) => toEventData(event, appendId)),
    }))
    const written = await this.#client.multiStreamAppend(appends)
    const revisions = new Map(written.responses.map((response) => [response.streamName, response.revision]))
    const last = requests.at(-1)!
    const lastName = this.#name(last.streamName)
    const revision = revisions.get(lastName)
    const recorded = revision === undefined ? undefined : await this.#eventAt(lastName, revision)
    const everyRevision = requests.every((request) => revisions.has(this.#name(request.streamName)))
    if (recorded && everyRevision && sameId(recorded.event.id, last.events.at(-1)!.id) && recorded.appendId === appendId) {
      // written by this call, atomically: the last stream's last event has the highest position
      return {
        streams: requests.map((request) => ({ streamName: request.streamName, version: toVersion(revisions.get(this.#name(request.streamName))!) })),
        lastPosition: recorded.event.position,
        duplicate: false,
      }
    }
    // acknowledged as a duplicate of an earlier append: find what it recorded
    return this.#locate(requests, appendId)
  }

  /**
   * After an acknowledged append whose answer does not point at our events (a duplicate): looks
   * for the request's events in each stream, newest first, as deep as needed.
   */
  async #locate(requests: AppendRequest[], appendId: string): Promise<AppendResult> {
    const found = await Promise.all(
      requests.map(async (request) => {
        const lastId = request.events.at(-1)!.id
        const name = this.#name(request.streamName)
        let from: bigint | typeof END = END
        for (;;) {
          const page = await this.#readStreamRaw(name, { fromRevision: from, direction: BACKWARDS, maxCount: this.#window })
          if (page === undefined || page.length === 0) break
          for (const resolved of page) {
            const decoded = decodeResolvedEvent(resolved, this.#prefix)
            if (decoded && sameId(decoded.event.id, lastId)) return decoded
          }
          const oldest = page.at(-1)!.event?.revision
          if (page.length < this.#window || oldest === undefined || oldest === 0n) break
          from = oldest - 1n
        }
        throw new Error(`KurrentDB acknowledged an append to ${request.streamName} but its event ${lastId} is not in the stream`)
      }),
    )
    const lastOfLast = found.at(-1)!
    return {
      streams: requests.map((request, i) => ({ streamName: request.streamName, version: found[i]!.event.streamVersion })),
      lastPosition: Math.max(...found.map((decoded) => decoded.event.position)),
      duplicate: lastOfLast.appendId !== appendId,
    }
  }

  /**
   * A refused append: a true conflict, a duplicate sent with another expected version, or a
   * partial overlap (KurrentDB refuses both with a wrong expected version). Decided from the
   * latest `idempotencyWindow` events of every stream of the request.
   */
  async #diagnose(requests: AppendRequest[], appendId: string, error: unknown): Promise<Diagnosis> {
    const scans = await Promise.all(requests.map((request) => this.#scan(this.#name(request.streamName))))
    let total = 0
    let recorded = 0
    const lastEvents: DecodedEvent[] = []
    for (const [i, request] of requests.entries()) {
      const byId = new Map(scans[i]!.events.map((decoded) => [decoded.event.id.toLowerCase(), decoded]))
      total += request.events.length
      recorded += request.events.filter((event) => byId.has(event.id.toLowerCase())).length
      const last = byId.get(request.events.at(-1)!.id.toLowerCase())
      if (last) lastEvents.push(last)
    }
    if (recorded === total && lastEvents.length === requests.length) {
      return {
        kind: 'duplicate',
        result: {
          streams: requests.map((request, i) => ({ streamName: request.streamName, version: lastEvents[i]!.event.streamVersion })),
          lastPosition: Math.max(...lastEvents.map((decoded) => decoded.event.position)),
          duplicate: lastEvents.at(-1)!.appendId !== appendId,
        },
      }
    }
    if (recorded > 0) return { kind: 'partial' }
    // a true conflict: the stream the server named, else the first whose version does not match now
    const named = wrongVersionOf(error, this.#prefix)
    const namedRequest = named && requests.find((request) => request.streamName === named.streamName)
    if (named && namedRequest) return { kind: 'conflict', error: new WrongExpectedVersion(named.streamName, namedRequest.expectedVersion, named.actual) }
    for (const [i, request] of requests.entries()) {
      const version = scans[i]!.version
      if (!satisfies(request.expectedVersion, version)) return { kind: 'conflict', error: new WrongExpectedVersion(request.streamName, request.expectedVersion, version) }
    }
    return { kind: 'gone', error: new WrongExpectedVersion(requests[0]!.streamName, requests[0]!.expectedVersion, scans[0]!.version) }
  }

  /** A stream's version and latest events (at most the idempotency window), newest first. */
  async #scan(name: string): Promise<StreamScan> {
    const page = await this.#readStreamRaw(name, { fromRevision: END, direction: BACKWARDS, maxCount: this.#window })
    if (page === undefined || page.length === 0) return { version: -1, events: [] }
    const newest = page[0]!.event?.revision
    return {
      version: newest === undefined ? -1 : toVersion(newest),
      events: page.flatMap((resolved) => decodeResolvedEvent(resolved, this.#prefix) ?? []),
    }
  }

  /** The event at a revision of a stream (undefined when there is none). */
  async #eventAt(name: string, revision: bigint): Promise<DecodedEvent | undefined> {
    if (revision < 0n) return undefined
    const page = await this.#readStreamRaw(name, { fromRevision: revision, direction: FORWARDS, maxCount: 1 })
    const first = page?.[0]
    return first ? decodeResolvedEvent(first, this.#prefix) : undefined
  }

  // -- reading streams ------------------------------------------------------------------------

  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<StreamSlice> {
    const name = this.#name(streamName)
    if (name.startsWith('$')) return { version: -1, events: [] } // never one of ours
    const backward = options.direction === 'backward'
    const limit = options.limit ?? Number.MAX_SAFE_INTEGER
    const fromVersion = options.fromVersion
    if (limit <= 0 || (backward && fromVersion !== undefined && fromVersion < 0)) {
      return { version: await this.#version(name), events: [] }
    }
    // inclusive on both sides, like the port: forward from 0 (START), backward from the end (END)
    const fromRevision = fromVersion === undefined || (!backward && fromVersion <= 0) ? (backward ? END : START) : BigInt(fromVersion)
    const page = await this.#readStreamRaw(name, { fromRevision, direction: backward ? BACKWARDS : FORWARDS, maxCount: limit })
    if (page === undefined) return { version: -1, events: [] }
    const events = page.flatMap((resolved) => decodeResolvedEvent(resolved, this.#prefix)?.event ?? [])
    // the stream's version: the newest event read when the read covered the stream's end, else asked for
    let version: number
    const newest = backward ? page[0]?.event?.revision : page.at(-1)?.event?.revision
    if (backward && fromVersion === undefined && newest !== undefined) version = toVersion(newest)
    else if (!backward && page.length < limit && newest !== undefined) version = toVersion(newest)
    else version = await this.#version(name)
    return { version, events }
  }

  async #version(name: string): Promise<number> {
    const page = await this.#readStreamRaw(name, { fromRevision: END, direction: BACKWARDS, maxCount: 1 })
    const newest = page?.[0]?.event?.revision
    return newest === undefined ? -1 : toVersion(newest)
  }

  /** A stream read, collected; undefined when the stream does not exist. */
  async #readStreamRaw(name: string, options: { fromRevision: bigint | typeof START | typeof END; direction: typeof FORWARDS | typeof BACKWARDS; maxCount: number }): Promise<ClientResolvedEvent[] | undefined> {
    const events: ClientResolvedEvent[] = []
    try {
      for await (const resolved of this.#client.readStream(name, { ...options, requiresLeader: true })) events.push(resolved)
    } catch (error) {
      if (error instanceof StreamNotFoundError) return undefined
      throw error
    }
    return events
  }

  // -- reading the global log -----------------------------------------------------------------

  async readAll(options: ReadAllOptions = {}): Promise<GlobalSlice> {
    const after = Math.max(0, options.after ?? 0)
    const limit = options.limit ?? 1000
    if (limit <= 0) return { events: [], scannedTo: after }
    const plan = planReadAll(options, this.#prefix)
    // our last event BEFORE reading: once the read reaches the end, every event up to it was seen
    const head = await this.headPosition()
    if (plan.matchesNothing) return { events: [], scannedTo: Math.max(after, head) }

    const pageSize = (plan.selective ? Math.max(limit, SELECTIVE_PAGE) : limit) + 1
    const scanBound = Math.max(MIN_SCAN_BOUND, limit * 10)
    const events: RecordedEvent[] = []
    let from = await this.#startFor(after)
    /** the last position examined: everything up to it that matches is in `events` */
    let floor = after
    let scanned = 0
    for (;;) {
      let received = 0
      let lastRaw: Position | undefined
      for await (const resolved of this.#client.readAll({ fromPosition: from, direction: FORWARDS, maxCount: pageSize, filter: plan.serverFilter, requiresLeader: true })) {
        received++
        const raw = rawPositionOf(resolved)
        if (!raw) throw new Error('KurrentDB returned a $all event without a position')
        lastRaw = raw
        const position = toGlobalPosition(raw)
        // reads start AT their position (inclusive), and a fallback start is earlier still
        if (position <= floor) continue
        floor = position
        scanned++
        const decoded = decodeResolvedEvent(resolved, this.#prefix)
        if (decoded && plan.matches(decoded.event)) {
          events.push(decoded.event)
          if (events.length === limit) break
        }
      }
      if (events.length === limit) {
        // a full page: checkpoint at its last event (later events may follow)
        this.#known.add(floor) // an event position: scanned > 0
        return { events, scannedTo: floor }
      }
      if (received < pageSize || lastRaw === undefined) break // the server reached the end of $all
      if (scanned >= scanBound) {
        // a sparse filter: stop here; every event up to the last scanned one was examined
        this.#known.add(floor)
        return { events, scannedTo: floor }
      }
      from = lastRaw // read again from the last event received (skipped: at the floor)
    }
    // `after` itself is only remembered once confirmed as an event position (see #startFor)
    if (scanned > 0) this.#known.add(floor)
    return { events, scannedTo: Math.max(after, floor, head) }
  }

  /**
   * Where a read of events after `after` may start: a record boundary. 0 → the start; a known
   * event position → itself; a position that a one-event read confirms as an event's → itself;
   * otherwise the greatest known event position below it, or the start (the skipped events cost
   * time, never correctness).
   */
  async #startFor(after: number): Promise<ReadPosition> {
    if (after <= 0) return START
    if (this.#known.has(after) || (await this.#isEventPosition(after))) {
      this.#known.add(after)
      return toReadPosition(after)
    }
    const below = this.#known.below(after)
    return below === undefined ? START : toReadPosition(below)
  }

  async #isEventPosition(position: number): Promise<boolean> {
    try {
      for await (const resolved of this.#client.readAll({ fromPosition: toReadPosition(position), direction: FORWARDS, maxCount: 1, requiresLeader: true })) {
        const raw = rawPositionOf(resolved)
        return raw !== undefined && raw.commit === BigInt(position)
      }
      return false
    } catch {
      // KurrentDB refuses a position inside a record ("invalid position"); any failure here only
      // means "not known to be safe": the caller starts further back
      return false
    }
  }

  async headPosition(): Promise<number> {
    let from: ReadPosition = END
    for (;;) {
      let received = 0
      let lastRaw: Position | undefined
      for await (const resolved of this.#client.readAll({ fromPosition: from, direction: BACKWARDS, maxCount: HEAD_PAGE, filter: ourStreamsFilter(this.#prefix), requiresLeader: true })) {
        received++
        lastRaw = rawPositionOf(resolved)
        const decoded = decodeResolvedEvent(resolved, this.#prefix)
        if (decoded) {
          this.#known.add(decoded.event.position)
          return decoded.event.position
        }
      }
      // a whole page of `$` events in our streams (tombstones, links): look further back
      if (received < HEAD_PAGE || lastRaw === undefined || (from !== END && typeof from === 'object' && from.commit === lastRaw.commit)) return 0
      from = lastRaw
    }
  }

  // -- notifications --------------------------------------------------------------------------

  onAppended(listener: (position: number) => void): () => void {
    this.#listeners.add(listener)
    this.#subscribe()
    return () => {
      this.#listeners.delete(listener)
      if (this.#listeners.size === 0) void this.#unsubscribe()
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#listeners.clear()
    await this.#unsubscribe()
    if (this.#ownsClient) await this.#client.dispose()
  }

  #wake(position: number): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(position)
      } catch {
        // one listener's failure is its own: the others still hear the append
      }
    }
  }

  /** Other processes' appends: a subscription to $all from the end, filtered to our streams. */
  #subscribe(): void {
    if (this.#closed || this.#subscription || this.#retryTimer || this.#listeners.size === 0) return
    const subscription = this.#client.subscribeToAll({ fromPosition: this.#resumeFrom ?? END, filter: ourStreamsFilter(this.#prefix) })
    this.#subscription = subscription
    subscription.on('confirmation', () => {
      this.#backoffMs = 0
    })
    subscription.on('data', (resolved: ClientResolvedEvent) => {
      this.#backoffMs = 0
      const raw = rawPositionOf(resolved)
      if (!raw) return
      this.#resumeFrom = raw
      let position: number
      try {
        if (!decodeResolvedEvent(resolved, this.#prefix)) return
        position = toGlobalPosition(raw)
      } catch {
        return // not an event a reader of ours could read either: nothing to announce
      }
      this.#wake(position)
    })
    const restart = (): void => {
      if (this.#subscription !== subscription) return
      this.#subscription = undefined
      void subscription.unsubscribe().catch(() => undefined)
      if (this.#closed || this.#listeners.size === 0) return
      this.#backoffMs = Math.min(SUBSCRIPTION_BACKOFF_MAX_MS, this.#backoffMs === 0 ? SUBSCRIPTION_BACKOFF_MIN_MS : this.#backoffMs * 2)
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined
        this.#subscribe()
        // whatever was appended while the subscription was down: one wake at the head
        void this.headPosition().then(
          (head) => {
            if (head > 0 && !this.#closed) this.#wake(head)
          },
          () => undefined,
        )
      }, this.#backoffMs)
      this.#retryTimer.unref()
    }
    subscription.on('error', restart)
    subscription.on('end', restart)
    subscription.on('close', restart)
  }

  async #unsubscribe(): Promise<void> {
    if (this.#retryTimer) clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    this.#resumeFrom = undefined
    this.#backoffMs = 0
    const subscription = this.#subscription
    this.#subscription = undefined
    await subscription?.unsubscribe().catch(() => undefined)
  }

  #name(streamName: string): string {
    return toKurrentStreamName(this.#prefix, streamName)
  }
}
