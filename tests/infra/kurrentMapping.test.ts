import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import {
  ANY,
  BACKWARDS,
  END,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  DeadlineExceededError,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
  type AppendStreamState,
  type Filter,
  type Position,
} from '@kurrent/kurrentdb-client'
import { InvalidAppend, type AppendRequest, type EventMetadata, type NewEvent } from '../../infra/eventStore/eventStore.ts'
import {
  APPEND_ID_KEY,
  KnownPositions,
  KurrentEventStore,
  decodeData,
  decodeMetadata,
  decodeResolvedEvent,
  encodeMetadata,
  fromKurrentStreamName,
  isTransient,
  ourStreamsFilter,
  planReadAll,
  satisfies,
  toEventData,
  toGlobalPosition,
  toKurrentStreamName,
  toReadPosition,
  toStreamState,
  toVersion,
  validateAppend,
  validateStreamPrefix,
  wrongVersionOf,
  type ClientResolvedEvent,
  type KurrentClient,
} from '../../infra/eventStore/kurrentEventStore.ts'
import { eventStoreContract } from './eventStoreContract.ts'

/**
 * The KurrentDB adapter without a server: first its mappings (pure functions), then the adapter's
 * own logic (read-back of appends, duplicate and conflict diagnosis, paging of $all, start
 * positions, notifications) run through the whole contract suite against SimulatedKurrentDB, a
 * small in-memory MODEL of the server behaviour the adapter relies on (idempotency rules of the
 * storage writer, inclusive $all reads that refuse positions inside a record, one-dimension
 * server filters, system events between ours). The model is our reading of KurrentDB, not
 * KurrentDB: tests/infra/kurrentEventStore.test.ts runs the same suite on a real server.
 */

const PREFIX = 'mf1.'

function meta(overrides: Partial<EventMetadata> = {}): EventMetadata {
  return {
    tenantId: 'tenant-a',
    userId: 'user-1',
    correlationId: 'corr-1',
    causationId: null,
    ip: '192.0.2.1',
    userAgent: null,
    occurredAt: '2026-03-10T09:00:00.000Z',
    schemaVersion: 2,
    ...overrides,
  }
}

function newEvent(type = 'Tested', data: unknown = { n: 1 }): NewEvent {
  return { id: randomUUID(), type, data, metadata: meta() }
}

t.test('expected versions map to the client stream states', async (t) => {
  t.equal(toStreamState('no_stream'), NO_STREAM)
  t.equal(toStreamState('stream_exists'), STREAM_EXISTS)
  t.equal(toStreamState('any'), ANY)
  t.equal(toStreamState(0), 0n)
  t.equal(toStreamState(41), 41n)
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 60]) t.throws(() => toStreamState(bad), InvalidAppend, `${bad} is refused`)
})

t.test('the client stream states map back to versions', async (t) => {
  t.equal(toVersion(NO_STREAM), -1)
  t.equal(toVersion(0n), 0)
  t.equal(toVersion(7n), 7)
  t.equal(toVersion(-5n), -1, 'a soft-deleted stream (-5) does not exist for us')
  t.equal(toVersion(-6n), -1, 'nor a tombstoned one (-6)')
  t.throws(() => toVersion(2n ** 60n), RangeError)
  const table: [Parameters<typeof satisfies>[0], number, boolean][] = [
    ['any', -1, true], ['any', 3, true],
    ['no_stream', -1, true], ['no_stream', 0, false],
    ['stream_exists', -1, false], ['stream_exists', 0, true],
    [3, 3, true], [3, 4, false], [0, -1, false],
  ]
  for (const [expected, version, ok] of table) t.equal(satisfies(expected, version), ok, `${String(expected)} at ${version}`)
})

t.test('positions: the commit position, as a safe integer, read inclusively', async (t) => {
  t.equal(toGlobalPosition({ commit: 123n, prepare: 123n }), 123)
  t.equal(toGlobalPosition({ commit: 500n, prepare: 420n }), 500, 'the commit position when an older server reports the transaction start as prepare')
  t.equal(toGlobalPosition({ commit: BigInt(Number.MAX_SAFE_INTEGER), prepare: 0n }), Number.MAX_SAFE_INTEGER, '2^53 - 1 bytes of log is the limit')
  t.throws(() => toGlobalPosition({ commit: BigInt(Number.MAX_SAFE_INTEGER) + 1n, prepare: 0n }), RangeError, 'beyond is refused, not rounded')
  t.throws(() => toGlobalPosition({ commit: -1n, prepare: -1n }), RangeError, 'no position reported')
  t.equal(toReadPosition(0), START, 'after 0: from the start')
  t.equal(toReadPosition(-4), START)
  t.same(toReadPosition(4096), { commit: 4096n, prepare: 4096n }, 'after p: from the record at p (skipped by the adapter)')
})

t.test('stream names: a prefix isolates a store, system streams are never ours', async (t) => {
  t.equal(toKurrentStreamName('', 'contact-1'), 'contact-1')
  t.equal(toKurrentStreamName(PREFIX, 'contact-1'), 'mf1.contact-1')
  t.equal(fromKurrentStreamName(PREFIX, 'mf1.contact-1'), 'contact-1')
  t.equal(fromKurrentStreamName(PREFIX, 'mf2.contact-1'), undefined, 'another prefix')
  t.equal(fromKurrentStreamName(PREFIX, 'mf1.'), undefined, 'the bare prefix')
  t.equal(fromKurrentStreamName('', '$stats-127.0.0.1:2113'), undefined, 'a system stream')
  t.equal(fromKurrentStreamName('', '$$contact-1'), undefined, 'a metadata stream')
  t.equal(fromKurrentStreamName('', 'contact-1'), 'contact-1')
  t.equal(validateStreamPrefix('test.ab12.'), 'test.ab12.')
  t.throws(() => validateStreamPrefix('$x'))
  t.throws(() => validateStreamPrefix('a b'))
})

t.test('metadata: one string per field, null fields left out, the append id alongside', async (t) => {
  const full = meta({ userAgent: 'curl/8', causationId: '' })
  const encoded = encodeMetadata(full, 'append-1')
  t.ok(Object.values(encoded).every((value) => typeof value === 'string'), 'string values only (multiStreamAppend accepts nothing else)')
  t.same(encoded, {
    tenantId: 'tenant-a',
    userId: 'user-1',
    correlationId: 'corr-1',
    causationId: '',
    ip: '192.0.2.1',
    userAgent: 'curl/8',
    occurredAt: '2026-03-10T09:00:00.000Z',
    schemaVersion: '2',
    [APPEND_ID_KEY]: 'append-1',
  })
  t.notOk('causationId' in encodeMetadata(meta(), 'x'), 'a null field is left out')
  t.strictSame(decodeMetadata(encoded), { metadata: full, appendId: 'append-1' }, 'round trip: an empty string stays empty, nulls come back')
  const withNulls = meta({ tenantId: null, userId: null, ip: null })
  t.strictSame(decodeMetadata(JSON.parse(JSON.stringify(encodeMetadata(withNulls, 'a2')))).metadata, withNulls)
  t.strictSame(
    decodeMetadata({ ...encoded, '$schema.name': 'Tested', '$schema.format': 'Json', $traceId: 'x', other: 'y' }).metadata,
    full,
    "KurrentDB's own properties are ignored",
  )
  t.strictSame(decodeMetadata({ ...full, schemaVersion: 3 }).metadata, { ...full, schemaVersion: 3 }, 'typed JSON metadata (written by others) is read too')
  t.strictSame(decodeMetadata(undefined), {
    metadata: { tenantId: null, userId: null, correlationId: '', causationId: null, ip: null, userAgent: null, occurredAt: '', schemaVersion: 1 },
    appendId: undefined,
  }, 'no metadata at all')
  t.equal(decodeMetadata(new Uint8Array([1, 2])).metadata.schemaVersion, 1, 'binary metadata is not ours')
})

t.test('data: JSON in, JSON out', async (t) => {
  const event = newEvent('Rich', { text: 'Habari ✓', big: 9007199254740991, list: [1, null] })
  const data = toEventData(event, 'append-9')
  t.equal(data.contentType, 'application/json')
  t.equal(data.id, event.id)
  t.equal(data.type, 'Rich')
  t.same(data.metadata, encodeMetadata(event.metadata, 'append-9'))
  t.same(decodeData(new TextEncoder().encode(JSON.stringify(event.data))), event.data, 'bytes holding JSON are parsed')
  t.equal(decodeData(new TextEncoder().encode('not json')), 'not json')
  t.same(decodeData({ a: 1 }), { a: 1 }, 'already parsed by the client')
})

t.test('read plans: the server filters one dimension, the client checks everything', async (t) => {
  const recorded = (streamName: string, type: string, tenantId: string | null = 'tenant-a') => ({
    id: randomUUID(), type, data: {}, metadata: meta({ tenantId }), streamName, streamVersion: 0, position: 1, recordedAt: new Date(),
  })
  const all = planReadAll({}, '')
  t.same(all.serverFilter, ourStreamsFilter(''))
  t.match(all.serverFilter, { filterOn: 'streamName', regex: '^[^$]' }, 'no prefix: every non-system stream')
  t.match(planReadAll({}, PREFIX).serverFilter, { filterOn: 'streamName', prefixes: [PREFIX] }, 'a prefix: its streams')

  const byCategory = planReadAll({ categories: ['contact', 'campaign'], eventTypes: ['ContactCreated'] }, PREFIX)
  t.match(byCategory.serverFilter, { filterOn: 'streamName', prefixes: ['mf1.contact-', 'mf1.campaign-'] }, 'categories are stream-name prefixes ending at the dash')
  t.ok(byCategory.matches(recorded('contact-1', 'ContactCreated')))
  t.notOk(byCategory.matches(recorded('contacts-1', 'ContactCreated')), "'contacts' is not 'contact'")
  t.notOk(byCategory.matches(recorded('contact-1', 'ContactRenamed')), 'the types are checked on the client')
  t.equal(byCategory.selective, true)

  const byType = planReadAll({ eventTypes: ['ContactCreated'] }, '')
  t.match(byType.serverFilter, { filterOn: 'eventType', prefixes: ['ContactCreated'] })
  t.notOk(byType.matches(recorded('contact-1', 'ContactCreatedV2')), 'a type prefix is not the type')
  t.equal(byType.selective, false)

  const byTenant = planReadAll({ tenantId: 'tenant-b' }, '')
  t.ok(byTenant.matches(recorded('x-1', 'A', 'tenant-b')))
  t.notOk(byTenant.matches(recorded('x-1', 'A', 'tenant-a')), 'tenants are filtered on the client')
  t.notOk(byTenant.matches(recorded('x-1', 'A', null)))
  t.equal(byTenant.selective, true)

  t.equal(planReadAll({ eventTypes: [] }, '').matchesNothing, true, 'an empty list matches nothing')
  t.equal(planReadAll({ categories: [] }, '').matchesNothing, true)
  t.equal(planReadAll({ categories: ['a'] }, '').matchesNothing, false)
})

t.test('recorded events: decoded, or left out when they are not ours', async (t) => {
  const event = newEvent('Tested', { n: 7 })
  const resolved = (streamId: string, type = 'Tested', position: Position | null = { commit: 900n, prepare: 900n }): ClientResolvedEvent => ({
    event: {
      streamId, id: event.id, type, revision: 4n, created: new Date('2026-03-10T09:00:01Z'),
      data: { n: 7 }, metadata: encodeMetadata(event.metadata, 'append-3'), ...(position ? { position } : {}),
    },
  })
  const decoded = decodeResolvedEvent(resolved('mf1.order-1'), PREFIX)
  t.strictSame(decoded, {
    event: { id: event.id, type: 'Tested', data: { n: 7 }, metadata: event.metadata, streamName: 'order-1', streamVersion: 4, position: 900, recordedAt: new Date('2026-03-10T09:00:01Z') },
    appendId: 'append-3',
  })
  t.equal(decodeResolvedEvent(resolved('mf2.order-1'), PREFIX), undefined, 'another prefix')
  t.equal(decodeResolvedEvent(resolved('$ce-order', '$>'), ''), undefined, 'a link in a system stream')
  t.equal(decodeResolvedEvent(resolved('order-1', '$streamDeleted'), ''), undefined, 'a $ event in a stream of ours')
  t.equal(decodeResolvedEvent({}, ''), undefined, 'nothing resolved')
  t.equal(decodeResolvedEvent({ ...resolved('order-1', 'Tested', null), commitPosition: 77n }, '')?.event.position, 77, "the result's commit position when the event has none")
  t.throws(() => decodeResolvedEvent(resolved('order-1', 'Tested', null), ''), /without a position/)
  const noDate = resolved('order-1')
  noDate.event!.created = new Date(Number.NaN)
  t.same(decodeResolvedEvent(noDate, '')?.event.recordedAt, new Date(event.metadata.occurredAt), 'an unusable created time falls back to occurredAt')
})

t.test('errors: conflicts name our stream and its actual version; timeouts are retried', async (t) => {
  const conflict = new WrongExpectedVersionError(undefined, { streamName: 'mf1.order-1', expected: 2n, current: 5n })
  t.same(wrongVersionOf(conflict, PREFIX), { streamName: 'order-1', actual: 5 })
  t.same(wrongVersionOf(new WrongExpectedVersionError(undefined, { streamName: 'order-1', expected: STREAM_EXISTS, current: NO_STREAM }), ''), { streamName: 'order-1', actual: -1 })
  t.equal(wrongVersionOf(new WrongExpectedVersionError(undefined, { streamName: '', expected: ANY, current: NO_STREAM }), ''), undefined, 'an error naming no stream')
  t.equal(wrongVersionOf(conflict, 'other.'), undefined)
  t.equal(wrongVersionOf(new Error('x'), ''), undefined)
  t.ok(isTransient(new DeadlineExceededError()))
  t.ok(isTransient(new TimeoutError()))
  t.ok(isTransient(new UnavailableError()))
  t.notOk(isTransient(conflict))
  t.notOk(isTransient(new Error('timeout')))
  t.notOk(isTransient('timeout'))
})

t.test('appends are validated before anything is sent', async (t) => {
  const ok: AppendRequest = { streamName: 'order-1', expectedVersion: 'no_stream', events: [newEvent()] }
  t.doesNotThrow(() => validateAppend([ok], ''))
  const refused: [string, AppendRequest[], string?][] = [
    ['nothing', []],
    ['an empty name', [{ ...ok, streamName: '' }]],
    ['a leading dash', [{ ...ok, streamName: '-1' }]],
    ['a reserved $ name', [{ ...ok, streamName: '$order-1' }]],
    ['the same stream twice', [ok, { ...ok, events: [newEvent()] }]],
    ['no events', [{ ...ok, events: [] }]],
    ['a bad expected version', [{ ...ok, expectedVersion: -3 }]],
    ['a non-UUID id', [{ ...ok, events: [{ ...newEvent(), id: 'evt-1' }] }]],
    ['an id twice', [{ ...ok, events: [ok.events[0]!, ok.events[0]!] }]],
    ['no data', [{ ...ok, events: [{ ...newEvent(), data: undefined }] }]],
  ]
  for (const [label, requests] of refused) t.throws(() => validateAppend(requests, ''), InvalidAppend, label)
  t.doesNotThrow(() => validateAppend([{ ...ok, streamName: '$order-1' }], PREFIX), 'behind a prefix a $ is an ordinary character')
})

t.test('known positions: bounded, searchable below a position', async (t) => {
  const known = new KnownPositions(3)
  for (const p of [0, -5, 100, 300, 200]) known.add(p)
  t.notOk(known.has(0), 'only positive positions')
  t.equal(known.below(250), 200)
  t.equal(known.below(100), undefined)
  known.add(400)
  t.notOk(known.has(100), 'the oldest is forgotten first')
  t.equal(known.below(1000), 400)
})

// ---------------------------------------------------------------------------------------------
// SimulatedKurrentDB: a model of the server behaviour the adapter depends on
// ---------------------------------------------------------------------------------------------

interface SimRecord {
  position: bigint
  streamId: string
  id: string
  type: string
  revision: bigint
  created: Date
  /** JSON text; `binary`: returned as bytes (as a multi-stream append's record may be) */
  data: string
  binary: boolean
  metadata: Record<string, unknown>
}

interface SimSubscription extends EventEmitter {
  filter: Filter | undefined
  unsubscribe(): Promise<void>
}

type Decision = { kind: 'ok'; current: bigint } | { kind: 'wrong'; current: bigint } | { kind: 'idempotent'; end: bigint }

/**
 * In memory: one log of records at byte positions (record sizes vary, so positions have gaps),
 * system records between ours, per-stream indexes and the writer's cache of recent event ids.
 * Rules modelled (KurrentDB's storage writer and readers as documented and as read in its source):
 * - 'any'/'stream_exists': idempotent when every id is in the recent-ids cache for that stream;
 *   the first id unknown → written; a later one unknown → wrong expected version;
 * - an explicit version below the current one: idempotent when the ids are the events that follow
 *   it; the first differs → wrong expected version; a later one → wrong expected version too;
 * - an idempotent single-stream append answers the original's last revision and NO position;
 * - multi-stream: all written, or all idempotent, or a wrong expected version (naming the stream
 *   when only versions failed, naming none when idempotent and new streams are mixed);
 * - $all reads start AT a position (inclusive) and refuse one inside a record; backwards reads
 *   end before it; filters look at one dimension (stream name or event type, prefixes or regex);
 * - `lostAckEvery`: every n-th append is written but its answer is lost (a deadline error).
 */
class SimulatedKurrentDB {
  readonly log: SimRecord[] = []
  readonly streams = new Map<string, SimRecord[]>()
  readonly recentIds = new Map<string, { streamId: string; revision: bigint }>()
  readonly subscriptions = new Set<SimSubscription>()
  #end = 0n
  #appends = 0
  lostAckEvery = 0
  /** multi-stream conflicts name no stream (as the server does when idempotent and new streams are mixed) */
  anonymousConflicts = false

  constructor() {
    for (const stream of ['$users', '$user-admin', '$scavenges']) this.#system(stream, '$UserCreated')
  }

  client(): KurrentClient {
    const self = this
    const client = {
      appendToStream: (name: string, events: ReturnType<typeof toEventData>[], options: { streamState: AppendStreamState }) => self.#appendOne(name, events, options.streamState),
      multiStreamAppend: (requests: { streamName: string; expectedState: AppendStreamState; events: ReturnType<typeof toEventData>[] }[]) => self.#appendMany(requests),
      readStream: (name: string, options: { fromRevision: bigint | typeof START | typeof END; direction: typeof FORWARDS | typeof BACKWARDS; maxCount: number }) => self.#readStream(name, options),
      readAll: (options: { fromPosition: typeof START | typeof END | Position; direction: typeof FORWARDS | typeof BACKWARDS; maxCount: number; filter?: Filter }) => self.#readAll(options),
      subscribeToAll: (options: { fromPosition: typeof END | Position; filter?: Filter }) => self.#subscribe(options),
      dispose: async () => undefined,
    }
    return client as unknown as KurrentClient
  }

  /** every live subscription fails (a dropped connection) */
  dropSubscriptions(): void {
    for (const subscription of [...this.subscriptions]) {
      this.subscriptions.delete(subscription)
      subscription.emit('error', new UnavailableError())
      subscription.emit('close')
    }
  }

  #write(streamId: string, id: string, type: string, data: string, metadata: Record<string, unknown>, binary = false): SimRecord {
    const records = this.streams.get(streamId) ?? []
    this.streams.set(streamId, records)
    const record: SimRecord = { position: this.#end + 64n, streamId, id, type, revision: BigInt(records.length), created: new Date(), data, binary, metadata }
    this.#end = record.position + BigInt(64 + data.length + JSON.stringify(metadata).length)
    records.push(record)
    this.log.push(record)
    if (!streamId.startsWith('$')) this.recentIds.set(id, { streamId, revision: record.revision })
    for (const subscription of this.subscriptions) {
      if (matchesFilter(subscription.filter, record)) setImmediate(() => subscription.emit('data', toResolved(record)))
    }
    return record
  }

  #system(streamId: string, type: string): void {
    this.#write(streamId, randomUUID(), type, '{}', {})
  }

  #decide(streamId: string, state: AppendStreamState, ids: string[]): Decision {
    const records = this.streams.get(streamId) ?? []
    const current = BigInt(records.length - 1)
    if (state === STREAM_EXISTS && current < 0n) return { kind: 'wrong', current }
    if (state === ANY || state === STREAM_EXISTS) {
      let end: bigint | undefined
      for (const [i, id] of ids.entries()) {
        const known = this.recentIds.get(id)
        if (!known || known.streamId !== streamId) return i === 0 ? { kind: 'ok', current } : { kind: 'wrong', current }
        end = known.revision
      }
      return { kind: 'idempotent', end: end! }
    }
    const expected = state === NO_STREAM ? -1n : (state as bigint)
    if (expected < current) {
      for (const [i, id] of ids.entries()) {
        if (records[Number(expected) + 1 + i]?.id !== id) return { kind: 'wrong', current }
      }
      return { kind: 'idempotent', end: expected + BigInt(ids.length) }
    }
    if (expected > current) return { kind: 'wrong', current }
    return { kind: 'ok', current }
  }

  #maybeLoseAck(): boolean {
    this.#appends++
    return this.lostAckEvery > 0 && this.#appends % this.lostAckEvery === 0
  }

  async #appendOne(name: string, events: ReturnType<typeof toEventData>[], state: AppendStreamState) {
    await tick()
    const decision = this.#decide(name, state, events.map((e) => e.id))
    if (decision.kind === 'wrong') throw new WrongExpectedVersionError(undefined, { streamName: name, expected: state, current: decision.current < 0n ? NO_STREAM : decision.current })
    if (decision.kind === 'idempotent') return { success: true, nextExpectedRevision: decision.end, position: undefined }
    let last: SimRecord | undefined
    for (const event of events) last = this.#write(name, event.id, event.type, JSON.stringify(event.data), event.metadata as Record<string, unknown>)
    if (this.log.length % 7 === 0) this.#system('$stats-127.0.0.1:2113', '$statsCollected')
    if (this.#maybeLoseAck()) throw new DeadlineExceededError()
    return { success: true, nextExpectedRevision: last!.revision, position: { commit: last!.position, prepare: last!.position } }
  }

  async #appendMany(requests: { streamName: string; expectedState: AppendStreamState; events: ReturnType<typeof toEventData>[] }[]) {
    await tick()
    for (const request of requests) {
      for (const event of request.events) {
        if (Object.values(event.metadata as Record<string, unknown>).some((value) => typeof value !== 'string')) throw new Error('multiStreamAppend requires metadata to be a plain object with string keys and string values.')
      }
    }
    const decisions = requests.map((request) => this.#decide(request.streamName, request.expectedState, request.events.map((e) => e.id)))
    if (decisions.every((d) => d.kind === 'idempotent')) {
      return { position: 0n, responses: requests.map((request, i) => ({ streamName: request.streamName, revision: (decisions[i] as { end: bigint }).end })) }
    }
    if (!decisions.every((d) => d.kind === 'ok')) {
      const onlyVersions = decisions.every((d) => d.kind !== 'idempotent')
      const failed = decisions.findIndex((d) => d.kind === 'wrong')
      if (onlyVersions && failed >= 0 && !this.anonymousConflicts) {
        const current = (decisions[failed] as { current: bigint }).current
        throw new WrongExpectedVersionError(undefined, { streamName: requests[failed]!.streamName, expected: requests[failed]!.expectedState, current: current < 0n ? NO_STREAM : current })
      }
      throw new WrongExpectedVersionError(undefined, { streamName: '', expected: ANY, current: NO_STREAM })
    }
    const responses = requests.map((request) => {
      let last: SimRecord | undefined
      for (const event of request.events) {
        last = this.#write(request.streamName, event.id, event.type, JSON.stringify(event.data), { ...(event.metadata as Record<string, string>), '$schema.name': event.type, '$schema.format': 'Json' }, true)
      }
      return { streamName: request.streamName, revision: last!.revision }
    })
    if (this.#maybeLoseAck()) throw new DeadlineExceededError()
    return { position: this.log.at(-1)!.position, responses }
  }

  async *#readStream(name: string, options: { fromRevision: bigint | typeof START | typeof END; direction: typeof FORWARDS | typeof BACKWARDS; maxCount: number }) {
    await tick()
    const records = this.streams.get(name)
    if (!records) throw new StreamNotFoundError(undefined, name)
    const picked: SimRecord[] = []
    if (options.direction === FORWARDS) {
      const from = options.fromRevision === START ? 0 : options.fromRevision === END ? records.length : Number(options.fromRevision)
      picked.push(...records.slice(from, from + options.maxCount))
    } else {
      const from = options.fromRevision === END ? records.length - 1 : Math.min(Number(options.fromRevision as bigint), records.length - 1)
      for (let i = from; i >= 0 && picked.length < options.maxCount; i--) picked.push(records[i]!)
    }
    for (const record of picked) yield toResolved(record)
  }

  async *#readAll(options: { fromPosition: typeof START | typeof END | Position; direction: typeof FORWARDS | typeof BACKWARDS; maxCount: number; filter?: Filter }) {
    await tick()
    const at = (position: bigint): number => {
      const index = this.log.findIndex((record) => record.position === position)
      if (index === -1 && position < this.#end) throw new Error('Trying to read from an invalid position.')
      return index === -1 ? this.log.length : index
    }
    let sent = 0
    if (options.direction === FORWARDS) {
      const from = options.fromPosition === START ? 0 : options.fromPosition === END ? this.log.length : at(options.fromPosition.commit)
      for (let i = from; i < this.log.length && sent < options.maxCount; i++) {
        if (!matchesFilter(options.filter, this.log[i]!)) continue
        sent++
        yield toResolved(this.log[i]!)
      }
    } else {
      const from = options.fromPosition === END ? this.log.length : options.fromPosition === START ? 0 : at(options.fromPosition.commit)
      for (let i = from - 1; i >= 0 && sent < options.maxCount; i--) {
        if (!matchesFilter(options.filter, this.log[i]!)) continue
        sent++
        yield toResolved(this.log[i]!)
      }
    }
  }

  #subscribe(options: { fromPosition: typeof END | Position; filter?: Filter }) {
    const subscription = Object.assign(new EventEmitter(), {
      filter: options.filter,
      unsubscribe: async () => {
        if (this.subscriptions.delete(subscription)) setImmediate(() => subscription.emit('close'))
      },
    }) as SimSubscription
    this.subscriptions.add(subscription)
    setImmediate(() => {
      subscription.emit('confirmation')
      if (options.fromPosition !== END) {
        const from = (options.fromPosition as Position).commit
        for (const record of this.log) if (record.position > from && matchesFilter(options.filter, record)) subscription.emit('data', toResolved(record))
      }
    })
    return subscription
  }
}

function matchesFilter(filter: Filter | undefined, record: SimRecord): boolean {
  if (!filter) return true
  const subject = filter.filterOn === 'streamName' ? record.streamId : record.type
  if ('prefixes' in filter) return filter.prefixes.some((prefix) => subject.startsWith(prefix))
  return new RegExp(filter.regex).test(subject)
}

function toResolved(record: SimRecord): ClientResolvedEvent {
  return {
    event: {
      streamId: record.streamId,
      id: record.id,
      type: record.type,
      revision: record.revision,
      created: record.created,
      data: record.binary ? new TextEncoder().encode(record.data) : JSON.parse(record.data),
      metadata: record.metadata,
      position: { commit: record.position, prepare: record.position },
    },
    commitPosition: record.position,
  }
}

t.test('the adapter on SimulatedKurrentDB (a model of the server, not the server)', async (t) => {
  const server = new SimulatedKurrentDB()
  server.lostAckEvery = 37 // now and then an append lands but its answer is lost: retried, still "written"
  let n = 0
  const open = () => KurrentEventStore.withClient(server.client(), { streamPrefix: `sim${++n}.` })

  await eventStoreContract(t, 'SimulatedKurrentDB', async () => {
    const store = open()
    return { store, close: () => store.close() }
  })

  t.test('appends of another process are heard through the subscription, also after it drops', async (t) => {
    const prefix = `sim${++n}.`
    const listening = KurrentEventStore.withClient(server.client(), { streamPrefix: prefix })
    const writing = KurrentEventStore.withClient(server.client(), { streamPrefix: prefix })
    const elsewhere = KurrentEventStore.withClient(server.client(), { streamPrefix: `sim${++n}.` })
    t.teardown(() => Promise.all([listening.close(), writing.close(), elsewhere.close()]))
    const heard: number[] = []
    const stop = listening.onAppended((position) => heard.push(position))
    await sleep(20)
    const first = await writing.append([{ streamName: 'bell-1', expectedVersion: 'no_stream', events: [newEvent()] }])
    await waitFor(() => heard.includes(first.lastPosition))
    t.ok(heard.includes(first.lastPosition), 'the subscription delivered the other store\'s append')
    await elsewhere.append([{ streamName: 'bell-1', expectedVersion: 'no_stream', events: [newEvent()] }])
    await sleep(20)
    t.notOk(heard.some((p) => p > first.lastPosition), 'another prefix is not ours')

    server.dropSubscriptions()
    const second = await writing.append([{ streamName: 'bell-1', expectedVersion: 0, events: [newEvent()] }])
    await waitFor(() => heard.some((p) => p >= second.lastPosition), 3000)
    t.ok(heard.some((p) => p >= second.lastPosition), 'resubscribed after the drop, and woken for what it missed')
    stop()
    t.equal(server.subscriptions.size, 0, 'the last listener gone, the subscription ends')
  })

  t.test('a duplicate answered without a position, and a retry after a lost answer', async (t) => {
    const store = open()
    t.teardown(() => store.close())
    const batch = [newEvent(), newEvent()]
    const lostBefore = server.lostAckEvery
    server.lostAckEvery = 1 // the very next append lands, its answer is lost
    const written = await store.append([{ streamName: 'pay-1', expectedVersion: 'no_stream', events: batch }])
    server.lostAckEvery = lostBefore
    t.equal(written.duplicate, false, 'the retry is acknowledged as idempotent, and recognised as our own write')
    const again = await store.append([{ streamName: 'pay-1', expectedVersion: 'no_stream', events: batch }])
    t.same({ ...again }, { streams: [{ streamName: 'pay-1', version: 1 }], lastPosition: written.lastPosition, duplicate: true })
    const otherVersion = await store.append([{ streamName: 'pay-1', expectedVersion: 7, events: batch }])
    t.same(otherVersion, again, 'a retry with another expected version: refused by the server, recognised as a duplicate')
  })

  t.test('multi-stream: a conflict the server does not name, and a lost answer', async (t) => {
    const store = open()
    t.teardown(() => store.close())
    await store.append([{ streamName: 'a-1', expectedVersion: 'no_stream', events: [newEvent()] }])
    server.anonymousConflicts = true
    const error = await store.append([
      { streamName: 'a-1', expectedVersion: 0, events: [newEvent()] },
      { streamName: 'b-1', expectedVersion: 'stream_exists', events: [newEvent()] },
    ]).then(() => undefined, (reason: unknown) => reason)
    server.anonymousConflicts = false
    t.match(error, { name: 'WrongExpectedVersion', streamName: 'b-1', expected: 'stream_exists', actual: -1 }, 'the adapter finds the stream that conflicts')

    const lostBefore = server.lostAckEvery
    server.lostAckEvery = 1
    const pair: AppendRequest[] = [
      { streamName: 'a-1', expectedVersion: 0, events: [newEvent()] },
      { streamName: 'b-1', expectedVersion: 'no_stream', events: [newEvent(), newEvent()] },
    ]
    const written = await store.append(pair)
    server.lostAckEvery = lostBefore
    t.same(written.streams, [{ streamName: 'a-1', version: 1 }, { streamName: 'b-1', version: 1 }])
    t.equal(written.duplicate, false, 'landed on the first attempt, answered on the retry: still written by this call')
    const again = await store.append(pair)
    t.same(again, { ...written, duplicate: true })
    t.equal((await store.readStream('b-1')).events.length, 2)
  })

  t.test('readAll from positions inside records and beyond the end', async (t) => {
    const prefix = `sim${++n}.`
    const store = KurrentEventStore.withClient(server.client(), { streamPrefix: prefix })
    t.teardown(() => store.close())
    const a = await store.append([{ streamName: 'pos-1', expectedVersion: 'no_stream', events: [newEvent('A'), newEvent('B')] }])
    const fresh = KurrentEventStore.withClient(server.client(), { streamPrefix: prefix }) // knows no positions yet
    t.teardown(() => fresh.close())
    const slice = await fresh.readAll({ after: a.lastPosition - 1, limit: 5 })
    t.same(slice.events.map((e) => e.type), ['B'], 'a position inside the previous record: read from an earlier boundary, nothing skipped')
    const beyond = await fresh.readAll({ after: a.lastPosition + 10_000 })
    t.same(beyond, { events: [], scannedTo: a.lastPosition + 10_000 })
  })
})

t.test('open() without a server fails at once, with a message that does not repeat the connection string', async (t) => {
  const started = Date.now()
  const error = await KurrentEventStore.open('kurrentdb://someone:secret@127.0.0.1:1?tls=false').then(
    () => undefined,
    (reason: unknown) => reason,
  )
  t.ok(error instanceof Error && /KurrentDB \(EVENTSTORE_URL\) did not answer/.test(error.message), String(error))
  t.notMatch(String((error as Error | undefined)?.message), /secret/, 'no credentials in the message')
  t.ok(Date.now() - started < 30_000, `failed in ${Date.now() - started} ms`)
})

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition() && Date.now() < deadline) await sleep(5)
}
